"""MovieLens (Harper & Konstan, ACM TiiS 2015), every published layout, recognised by its files:

- 100K: `u.data` (user, item, rating, timestamp; tab-separated), `u.item` (latin-1, `|`: id, title, release
  date, video release date, IMDb URL, 19 genre flags), `u.user` (`|`: id, age, gender, occupation, zip).
- 1M: `ratings.dat`, `movies.dat` (latin-1), `users.dat` (gender, age bracket, occupation code, zip), `::`.
- 10M: `ratings.dat`, `movies.dat`, `tags.dat` (user, movie, tag, timestamp), `::`.
- 20M, 25M, 32M, latest(-small): `ratings.csv` (userId, movieId, rating, timestamp), `movies.csv`
  (movieId, title, genres), `tags.csv` (userId, movieId, tag, timestamp), with headers.

Every layout gives items (title, year, genres, and tags where published) and, for 100K and 1M, users (age,
gender, occupation, zip_area). The zip code is reduced to its first character (the US postal region): a
full zip code is nearly a per-user identifier, not an attribute a model can generalise from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from pipeline.config import DataParams
from pipeline.data.schema import INTERACTIONS_SCHEMA, ITEM, USER
from pipeline.data.sources.tables import (
    SourceScans,
    empty_items,
    empty_users,
    genres_list,
    read_side_file,
    scan_csv_text,
    scan_fields,
    top_tags,
    typed_interactions,
    year_from_title,
)

log = logging.getLogger(__name__)

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
# ML-1M README: occupation codes
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)
CSV_COLUMNS = {"userId": USER, "movieId": ITEM, "rating": "rating", "timestamp": "timestamp"}
LAYOUT_HINT = "MovieLens 100K's u.data is tab-separated; the 1M and 10M .dat files use '::'; 20M and later are CSV"


def read_movielens(directory: Path, params: DataParams) -> SourceScans:
    if (directory / "u.data").is_file():
        return _read_100k(directory)
    if (directory / "ratings.csv").is_file():
        return _read_csv_layout(directory)
    if (directory / "ratings.dat").is_file():
        return _read_1m(directory) if (directory / "users.dat").is_file() else _read_10m(directory)
    raise FileNotFoundError(
        f"{directory} holds none of u.data (100K), ratings.dat (1M, 10M) or ratings.csv (20M and later): "
        "point data.path at the unpacked MovieLens folder"
    )


def _read_100k(directory: Path) -> SourceScans:
    log.info("MovieLens 100K layout (u.data, u.item, u.user)")
    fields = scan_fields(directory / "u.data", "\t", list(INTERACTIONS_SCHEMA), hint=LAYOUT_HINT)
    items, users = directory / "u.item", directory / "u.user"
    return SourceScans(
        interactions=typed_interactions(fields, drop_all_null=True),
        items=_items_100k(items).lazy() if items.is_file() else empty_items(),
        users=_users_100k(users).lazy() if users.is_file() else empty_users(),
    )


def _items_100k(path: Path) -> pl.DataFrame:
    movies = read_side_file(path, "|", [ITEM, "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K])
    flags = [pl.when(pl.col(genre) == "1").then(pl.lit(genre)) for genre in GENRES_100K if genre != "unknown"]
    release_year = pl.col("release_date").str.extract(r"(\d{4})$").cast(pl.Int32, strict=False)
    return movies.select(
        ITEM,
        "title",
        pl.coalesce(year_from_title(pl.col("title")), release_year).alias("year"),
        pl.concat_list(flags).list.drop_nulls().alias("genres"),
    )


def _users_100k(path: Path) -> pl.DataFrame:
    users = read_side_file(path, "|", [USER, "age", "gender", "occupation", "zip"])
    return _user_attributes(users)


def _read_1m(directory: Path) -> SourceScans:
    log.info("MovieLens 1M layout (ratings.dat, movies.dat, users.dat)")
    users = read_side_file(directory / "users.dat", "::", [USER, "gender", "age", "occupation", "zip"])
    users = users.with_columns(
        pl.col("occupation").cast(pl.Int64, strict=False)
        .replace_strict(dict(enumerate(OCCUPATIONS_1M)), default=None, return_dtype=pl.String)
    )
    return _read_dat_layout(directory, users=_user_attributes(users).lazy())


def _read_10m(directory: Path) -> SourceScans:
    log.info("MovieLens 10M layout (ratings.dat, movies.dat, tags.dat)")
    return _read_dat_layout(directory, users=empty_users())


def _read_dat_layout(directory: Path, users: pl.LazyFrame) -> SourceScans:
    fields = scan_fields(directory / "ratings.dat", "::", list(INTERACTIONS_SCHEMA), hint=LAYOUT_HINT)
    movies, tags = directory / "movies.dat", directory / "tags.dat"
    items = read_movies_dat(movies).lazy() if movies.is_file() else empty_items()
    if tags.is_file():
        pairs = read_side_file(tags, "::", [USER, ITEM, "tag", "timestamp"]).lazy()
        items = _with_tags(items, pairs)
    return SourceScans(interactions=typed_interactions(fields, drop_all_null=True), items=items, users=users)


def _read_csv_layout(directory: Path) -> SourceScans:
    log.info("MovieLens CSV layout (20M, 25M, 32M, latest: ratings.csv, movies.csv, tags.csv)")
    ratings = _renamed(scan_csv_text(directory / "ratings.csv"), CSV_COLUMNS, directory / "ratings.csv")
    movies, tags = directory / "movies.csv", directory / "tags.csv"
    items = empty_items()
    if movies.is_file():
        items = _movies(_renamed(scan_csv_text(movies), {"movieId": ITEM, "title": "title", "genres": "genres"}, movies))
    if tags.is_file():
        items = _with_tags(items, _renamed(scan_csv_text(tags), {"movieId": ITEM, "tag": "tag"}, tags))
    return SourceScans(interactions=typed_interactions(ratings), items=items, users=empty_users())


def _renamed(frame: pl.LazyFrame, names: dict[str, str], path: Path) -> pl.LazyFrame:
    """Rename the published header to canonical names. Absent columns stay absent for validation to report,
    unless none is there at all: then the header was split on the wrong separator, which is the thing to say."""
    header = list(frame.collect_schema())
    found = [c for c in names if c in header]
    if header and not found:
        raise ValueError(
            f"{path}: the header {','.join(header)!r} has none of the columns {', '.join(names)}; "
            f"MovieLens CSV files are comma-separated with a header line"
        )
    return frame.select([pl.col(c).alias(names[c]) for c in found])


def read_movies_dat(path: Path) -> pl.DataFrame:
    """`movie::title (year)::genre|genre`, the layout of MovieLens 1M/10M and MovieTweetings."""
    return _movies(read_side_file(path, "::", [ITEM, "title", "genres"]).lazy()).collect()


def _movies(movies: pl.LazyFrame) -> pl.LazyFrame:
    return movies.select(ITEM, "title", year_from_title(pl.col("title")), genres_list(pl.col("genres")))


def _with_tags(items: pl.LazyFrame, pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Items get their most applied tags; a tagged item missing from the movies file is still listed."""
    tags = top_tags(pairs.select(ITEM, "tag"))
    return items.join(tags, on=ITEM, how="full", coalesce=True, maintain_order="left")


def _user_attributes(users: pl.DataFrame) -> pl.DataFrame:
    """age (years, or the 1M bracket's lower bound) as a number; gender, occupation and the zip code's
    first character as categories."""
    return users.select(
        USER,
        pl.col("age").cast(pl.Int64, strict=False),
        "gender",
        "occupation",
        pl.col("zip").str.slice(0, 1).alias("zip_area"),
    )
