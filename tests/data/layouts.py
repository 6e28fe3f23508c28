"""Writers for small datasets in the exact published layout of each source (the real files cannot be
redistributed), byte for byte as the originals are laid out: separators, headers, encodings, quoting.

`write_movielens_100k` builds a full-size MovieLens 100K from the published format description (README of
ml-100k): 100,000 ratings by 943 users of 1,682 movies, every user with at least 20 ratings, every movie
rated, one rating per (user, movie), latin-1 titles, 19 genre flags, ages, genders, occupations, zip codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western")
OCCUPATIONS_100K = ("administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
                    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
                    "retired", "salesman", "scientist", "student", "technician", "writer")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def write_movielens_100k(directory: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n_users, n_items, n_ratings = 943, 1682, 100_000
    directory.mkdir(parents=True, exist_ok=True)
    counts = 20 + rng.multinomial(n_ratings - 20 * n_users, _normalised(rng.lognormal(0, 1, n_users)))
    counts = np.minimum(counts, 737)  # the most active ML-100K user rated 737 movies
    counts[np.argmin(counts)] += n_ratings - counts.sum()  # back to exactly 100,000
    popularity = _normalised(np.arange(1, n_items + 1) ** -0.8)
    guaranteed = [np.arange(u, n_items, n_users) for u in range(n_users)]  # every movie rated at least once
    pairs = []
    for user in range(n_users):
        own = guaranteed[user]
        rest = np.setdiff1d(np.arange(n_items), own)
        extra = rng.choice(rest, size=counts[user] - len(own), replace=False, p=_normalised(popularity[rest]))
        pairs += [(user + 1, item + 1) for item in np.concatenate([own, extra])]
    ratings = rng.integers(1, 6, size=n_ratings)
    times = rng.integers(874_724_710, 893_286_638, size=n_ratings)  # 1997-09-20 .. 1998-04-23
    order = rng.permutation(n_ratings)  # u.data is not sorted
    lines = (f"{pairs[i][0]}\t{pairs[i][1]}\t{ratings[i]}\t{times[i]}" for i in order)
    (directory / "u.data").write_text("\n".join(lines) + "\n", encoding="ascii")

    items = []
    for item in range(1, n_items + 1):
        flags = ["0"] * len(GENRES_100K)
        for genre in rng.choice(np.arange(1, len(GENRES_100K)), size=rng.integers(1, 4), replace=False):
            flags[genre] = "1"
        year = 1922 + item % 77
        title, date = (f"Café Movie {item} ({year})", f"01-{MONTHS[item % 12]}-{year}") if item % 100 else (
            f"Été {item} ({year})", f"{1 + item % 28:02d}-{MONTHS[item % 12]}-{year}")
        url = f"http://us.imdb.com/M/title-exact?Movie%20{item}%20({year})"
        if item == 267:  # the published file has one movie without title, date or URL
            title, date, url, flags = "unknown", "", "", ["1"] + ["0"] * (len(GENRES_100K) - 1)
        items.append("|".join([str(item), title, date, "", url, *flags]))
    (directory / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))

    users = []
    for user in range(1, n_users + 1):
        zip_code = f"{rng.integers(0, 100_000):05d}" if user % 50 else "T8H1N"  # a few Canadian codes
        users.append(f"{user}|{rng.integers(7, 74)}|{'FM'[rng.integers(2)]}|{OCCUPATIONS_100K[user % 21]}|{zip_code}")
    (directory / "u.user").write_text("\n".join(users) + "\n", encoding="ascii")
    (directory / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES_100K)) + "\n", encoding="ascii")
    return directory


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def write_movielens_1m(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::5::978298413\n", encoding="ascii"
    )
    (directory / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3408::Erin Brockovich (2000)::Drama\n"
        "3636::Château, Le (1950)::Comedy\n".encode("latin-1")
    )
    (directory / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n", encoding="ascii")
    return directory


def write_movielens_10m(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.dat").write_text(
        "1::122::5::838985046\n1::185::4.5::838983525\n2::122::3::868245920\n", encoding="ascii"
    )
    (directory / "movies.dat").write_text(
        "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n", encoding="utf-8"
    )
    (directory / "tags.dat").write_text(
        "15::122::dark hero::1215184630\n20::122::Dark Hero::1188263867\n20::122::Eddie Murphy::1188263880\n"
        "21::185::hacker::1188263880\n",
        encoding="utf-8",
    )
    return directory


def write_movielens_csv(directory: Path) -> Path:
    """The 20M/25M/32M/latest layout: comma-separated with headers, quoted titles that hold commas."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n2,2,4.0,974820889\n",
        encoding="utf-8",
    )
    (directory / "movies.csv").write_text(
        'movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n'
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi\n'
        "131262,Innocence (2014),(no genres listed)\n",
        encoding="utf-8",
    )
    (directory / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n18,2,Robin Williams,1240597180\n65,2,board game,1368150078\n"
        "65,29,surreal,1368150079\n66,2,board game,1368150080\n",
        encoding="utf-8",
    )
    (directory / "links.csv").write_text("movieId,imdbId,tmdbId\n2,0113497,8844\n", encoding="utf-8")
    return directory


def write_lastfm(directory: Path) -> Path:
    """hetrec2011-lastfm-2k: tab-separated with headers."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "user_artists.dat": "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t228\n",
        "artists.dat": "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://www.last.fm/music/Duran+Duran\t"
                       "http://userserve-ak.last.fm/serve/252/155668.jpg\n52\tMorcheeba\thttp://www.last.fm/music/Morcheeba\t\n"
                       "53\tAir\thttp://www.last.fm/music/Air\t\n",
        "tags.dat": "tagID\ttagValue\n1\tmetal\n2\tnew wave\n3\t80s\n",
        "user_taggedartists.dat": "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t51\t2\t1\t4\t2009\n"
                                  "3\t51\t3\t1\t4\t2009\n4\t51\t3\t1\t5\t2009\n2\t52\t1\t1\t4\t2009\n",
        "user_taggedartists-timestamps.dat": "userID\tartistID\ttagID\ttimestamp\n2\t51\t2\t1238536800000\n",
        "user_friends.dat": "userID\tfriendID\n2\t275\n",
    }
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def write_amazon_2018(directory: Path, category: str = "Movies_and_TV") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    reviews = [
        {"overall": 5.0, "verified": True, "reviewTime": "11 9, 2012", "reviewerID": "A2M1CU2IRZG0K9",
         "asin": "0005089549", "style": {"Format:": " VHS Tape"}, "reviewerName": "Terri",
         "reviewText": "So sorry I didn't purchase this years ago", "summary": "Great Gospel VHS",
         "unixReviewTime": 1352419200},
        {"overall": 3.0, "vote": "2", "verified": False, "reviewTime": "12 30, 2014", "reviewerID": "AFTUJYISOFHY6",
         "asin": "0005089549", "reviewerName": "Jon", "summary": "OK", "unixReviewTime": 1419897600},
        {"overall": 4.0, "verified": True, "reviewTime": "01 2, 2015", "reviewerID": "A2M1CU2IRZG0K9",
         "asin": "0005092663", "reviewText": "Fine.", "summary": "Four Stars", "unixReviewTime": 1420156800},
    ]
    meta = [
        {"category": ["Movies & TV", "Movies"], "tech1": "", "description": ["Gospel concert.", "Live."],
         "fit": "", "title": "Everything Is Beautiful VHS", "also_buy": [], "brand": "Gaither",
         "rank": "883,521 in Movies & TV (", "also_view": [], "main_cat": "Movies & TV", "price": "$12.99",
         "asin": "0005089549", "imageURL": [], "details": {}},
        {"category": ["Movies & TV"], "description": [], "title": "Gospel Favorites", "brand": "",
         "price": "", "asin": "0005092663"},
        {"category": ["Movies & TV", "Movies"], "description": ["Gospel concert."], "title": "Everything Is Beautiful VHS",
         "brand": "Gaither", "price": "$12.99", "asin": "0005089549"},  # the 2018 meta repeats some products
    ]
    _write_jsonl(directory / f"{category}.json", reviews)
    _write_jsonl(directory / f"meta_{category}.json", meta)
    return directory


def write_amazon_2023(directory: Path, category: str = "All_Beauty") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    reviews = [
        {"rating": 5.0, "title": "Such a lovely scent", "text": "This spray is really nice.", "images": [],
         "asin": "B00YQ6X8EO", "parent_asin": "B00YQ6X8EO", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ",
         "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": True},
        {"rating": 4.0, "title": "Works", "text": "Good.", "images": [], "asin": "B081TJ8YS3",
         "parent_asin": "B081TJ8YS3", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588615855070,
         "helpful_vote": 1, "verified_purchase": True},
        {"rating": 1.0, "title": "Smells bad", "text": "No.", "images": [], "asin": "B081TJ8YS4",
         "parent_asin": "B081TJ8YS3", "user_id": "AE74DYR3QUGVPZJ3P7RFWBGIX7XQ", "timestamp": 1589665266052,
         "helpful_vote": 0, "verified_purchase": False},
    ]
    meta = [
        {"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner", "average_rating": 4.8,
         "rating_number": 10, "features": [], "description": ["Conditions leather.", "8 oz."], "price": None,
         "images": [], "videos": [], "store": "Howard Products", "categories": [],
         "details": {"Package Dimensions": "7.1 x 5.5 x 3 inches"}, "parent_asin": "B00YQ6X8EO",
         "bought_together": None},
        {"main_category": "All Beauty", "title": "Yes to Tomatoes Mask", "average_rating": 4.5, "rating_number": 3,
         "features": ["Clears"], "description": [], "price": 8.99, "images": [], "videos": [], "store": "Yes To",
         "categories": ["Beauty & Personal Care", "Skin Care"], "details": {}, "parent_asin": "B081TJ8YS3",
         "bought_together": None},
    ]
    _write_jsonl(directory / f"{category}.jsonl", reviews)
    _write_jsonl(directory / f"meta_{category}.jsonl", meta)
    return directory


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
