"""Every named source read from files in its exact original layout (tests/data/layouts.py), and the bundled
MovieTweetings data, into the documented processed tables (docs/data.md)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.data.sources import read_source
from pipeline.data.sources.lastfm import COLLECTED_AT
from tests.data import layouts

INTERACTIONS = {"user_id": pl.String, "item_id": pl.String, "rating": pl.Float64, "timestamp": pl.Int64}


def rows(frame: pl.DataFrame, key: str = "item_id") -> dict[str, dict]:
    return {row[key]: row for row in frame.iter_rows(named=True)}


# --- MovieTweetings (bundled) ---------------------------------------------------------------------


def test_reads_bundled_movietweetings_with_titles_and_genres(movietweetings_dir: Path) -> None:
    tables = read_source("movietweetings", movietweetings_dir)
    interactions = tables.interactions
    assert interactions.height == 100_000
    assert interactions.schema == INTERACTIONS
    assert interactions["item_id"].str.starts_with("0").any(), "IMDb ids keep their leading zeros"
    pulp = tables.items.filter(pl.col("item_id") == "0110912").row(0, named=True)
    assert pulp["title"] == "Pulp Fiction (1994)"
    assert pulp["year"] == 1994
    assert pulp["genres"] == ["Crime", "Thriller"]
    assert tables.users.columns == ["user_id"], "twitter ids are identifiers, not attributes: not kept"
    assert tables.users.height == 16_554


def write_ratings(directory: Path, lines: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_unparseable_rating_is_kept_as_text_for_validation(tmp_path: Path) -> None:
    directory = write_ratings(tmp_path, ["1::0001::7::1365029107", "2::0002::great::1365029108"])
    interactions = read_source("movietweetings", directory).interactions
    assert interactions.schema["rating"] == pl.String
    assert interactions["rating"].to_list() == ["7", "great"]


def test_short_line_gives_nulls_and_absent_column_is_dropped(tmp_path: Path) -> None:
    short = read_source("movietweetings", write_ratings(tmp_path / "a", ["1::0001::7::1365029107", "::0002"])).interactions
    assert short["user_id"].to_list() == ["1", None], "an empty field is a missing id"
    assert short["rating"].null_count() == 1 and short["timestamp"].null_count() == 1
    no_time = read_source("movietweetings", write_ratings(tmp_path / "b", ["1::0001::7", "2::0002::8"])).interactions
    assert "timestamp" not in no_time.columns


def test_unknown_source_and_missing_path_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known sources: amazon, lastfm, movielens, movietweetings, synthetic, table"):
        read_source("netflix", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_source("movietweetings", tmp_path / "nowhere")


# --- MovieLens --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def movielens_100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layouts.write_movielens_100k(tmp_path_factory.mktemp("ml-100k"))


def test_full_size_movielens_100k_in_the_published_layout(movielens_100k: Path) -> None:
    tables = read_source("movielens", movielens_100k)
    interactions, items, users = tables.interactions, tables.items, tables.users
    assert interactions.schema == INTERACTIONS
    assert (interactions.height, interactions["user_id"].n_unique(), interactions["item_id"].n_unique()) == (
        100_000, 943, 1_682)
    assert interactions.group_by("user_id").len()["len"].min() >= 20
    assert interactions["rating"].is_between(1, 5).all() and interactions["timestamp"].min() >= 874_724_710
    assert items.height == 1_682 and items.schema["genres"] == pl.List(pl.String)
    first = rows(items)["1"]
    assert first["title"] == "Café Movie 1 (1923)", "u.item is latin-1"
    assert first["year"] == 1923 and 1 <= len(first["genres"]) <= 3
    assert rows(items)["267"] == {"item_id": "267", "title": "unknown", "year": None, "genres": []}
    assert items.filter(pl.col("genres").list.len() == 0).height == 1, "only the 'unknown' movie has no genre"
    assert users.height == 943
    assert users.schema == {"user_id": pl.String, "age": pl.Int64, "gender": pl.String, "occupation": pl.String,
                            "zip_area": pl.String}
    assert set(users["gender"]) == {"F", "M"} and users["occupation"].n_unique() == 21
    assert rows(users, "user_id")["50"]["zip_area"] == "T", "a Canadian postal code keeps its first letter"


def test_movielens_1m_maps_codes_and_reads_latin1(tmp_path: Path) -> None:
    tables = read_source("movielens", layouts.write_movielens_1m(tmp_path))
    assert tables.interactions.schema == INTERACTIONS and tables.interactions.height == 4
    assert tables.interactions.row(0) == ("1", "1193", 5.0, 978300760)
    movies = rows(tables.items)
    assert movies["3636"]["title"] == "Château, Le (1950)" and movies["3636"]["year"] == 1950
    assert movies["661"]["genres"] == ["Animation", "Children's", "Musical"]
    assert tables.users.to_dicts() == [
        {"user_id": "1", "age": 1, "gender": "F", "occupation": "K-12 student", "zip_area": "4"},
        {"user_id": "2", "age": 56, "gender": "M", "occupation": "self-employed", "zip_area": "7"},
    ]


def test_movielens_10m_keeps_half_stars_and_top_tags(tmp_path: Path) -> None:
    tables = read_source("movielens", layouts.write_movielens_10m(tmp_path))
    assert tables.interactions["rating"].to_list() == [5.0, 4.5, 3.0]
    movies = rows(tables.items)
    assert movies["122"]["tags"] == ["dark hero", "eddie murphy"], "tags are lower-cased, most applied first"
    assert movies["185"] == {"item_id": "185", "title": "Net, The (1995)", "year": 1995,
                             "genres": ["Action", "Crime", "Thriller"], "tags": ["hacker"]}
    assert tables.users.height == 0 and tables.users.columns == ["user_id"], "10M has no user attributes"


def test_movielens_csv_layout_with_quoted_titles(tmp_path: Path) -> None:
    tables = read_source("movielens", layouts.write_movielens_csv(tmp_path))
    assert tables.interactions.schema == INTERACTIONS
    assert tables.interactions.row(0) == ("1", "2", 3.5, 1112486027)
    movies = rows(tables.items)
    assert movies["29"]["title"] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert movies["29"]["year"] == 1995 and movies["29"]["tags"] == ["surreal"]
    assert movies["2"]["tags"] == ["board game", "robin williams"]
    assert movies["131262"]["genres"] == [], "'(no genres listed)' is no genre"


def test_movielens_folder_without_ratings_says_which_files_it_looks_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"none of u.data \(100K\), ratings.dat \(1M, 10M\) or ratings.csv"):
        read_source("movielens", tmp_path)


# --- Last.fm ------------------------------------------------------------------------------------------


def test_lastfm_play_counts_with_constant_time_and_artist_tags(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tables = read_source("lastfm", layouts.write_lastfm(tmp_path))
    assert tables.interactions.schema == INTERACTIONS
    assert tables.interactions.rows() == [("2", "51", 13883.0, COLLECTED_AT), ("2", "52", 11690.0, COLLECTED_AT),
                                          ("3", "51", 228.0, COLLECTED_AT)]
    assert "have no time" in caplog.text
    artists = rows(tables.items)
    assert artists["51"] == {"item_id": "51", "title": "Duran Duran", "tags": ["80s", "new wave"]}
    assert artists["53"]["tags"] is None, "an untagged artist has no tags"
    assert tables.users.height == 0


# --- Amazon -----------------------------------------------------------------------------------------


def test_amazon_2018_reviews_and_metadata(tmp_path: Path) -> None:
    tables = read_source("amazon", layouts.write_amazon_2018(tmp_path))
    assert tables.interactions.schema == INTERACTIONS
    assert tables.interactions.rows() == [("A2M1CU2IRZG0K9", "0005089549", 5.0, 1352419200),
                                          ("AFTUJYISOFHY6", "0005089549", 3.0, 1419897600),
                                          ("A2M1CU2IRZG0K9", "0005092663", 4.0, 1420156800)]
    assert tables.items.height == 2, "the repeated product is kept once"
    gospel = rows(tables.items)["0005089549"]
    assert gospel == {"item_id": "0005089549", "title": "Everything Is Beautiful VHS",
                      "description": "Gospel concert. Live.", "categories": ["Movies & TV", "Movies"],
                      "brand": "Gaither", "price": 12.99}
    assert rows(tables.items)["0005092663"]["price"] is None
    assert tables.reviews is not None
    assert tables.reviews.columns == ["user_id", "item_id", "timestamp", "summary", "text"]
    assert tables.reviews["text"].to_list() == ["So sorry I didn't purchase this years ago", None, "Fine."]


def test_amazon_2023_parent_items_and_millisecond_times(tmp_path: Path) -> None:
    tables = read_source("amazon", layouts.write_amazon_2023(tmp_path))
    assert tables.interactions.rows() == [("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B00YQ6X8EO", 5.0, 1588687728),
                                          ("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B081TJ8YS3", 4.0, 1588615855),
                                          ("AE74DYR3QUGVPZJ3P7RFWBGIX7XQ", "B081TJ8YS3", 1.0, 1589665266)]
    mask = rows(tables.items)["B081TJ8YS3"]
    assert mask["categories"] == ["All Beauty", "Beauty & Personal Care", "Skin Care"]
    assert mask["price"] == 8.99 and mask["brand"] == "Yes To" and mask["description"] == ""
    assert "average_rating" not in tables.items.columns, "aggregates of future behaviour are not features"
    assert tables.reviews is not None and tables.reviews["summary"][0] == "Such a lovely scent"


def test_amazon_reads_gzipped_files(tmp_path: Path) -> None:
    import gzip

    directory = layouts.write_amazon_2023(tmp_path / "plain")
    packed = tmp_path / "packed"
    packed.mkdir()
    for path in directory.iterdir():
        (packed / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    assert read_source("amazon", packed).interactions.equals(read_source("amazon", directory).interactions)


def test_amazon_unknown_layout_names_both_published_ones(tmp_path: Path) -> None:
    (tmp_path / "Books.jsonl").write_text('{"uid": "a", "sku": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="match neither the 2018 layout .* nor the 2023 layout"):
        read_source("amazon", tmp_path)


# --- the generic table --------------------------------------------------------------------------


TABLE = {"columns": {"user": "customer", "item": "sku", "rating": "stars", "timestamp": "when"}}


def events() -> pl.DataFrame:
    return pl.DataFrame({"customer": ["c1", "c1", "c2"], "sku": ["s1", "s2", "s1"], "stars": [4, 5, 2],
                         "when": ["2020-01-01T10:00:00Z", "2020-01-02", "2020-01-03 12:00:00+01:00"]})


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_table_formats_with_mapping_iso_times_and_side_files(tmp_path: Path, fmt: str) -> None:
    products = pl.DataFrame({"sku": ["s1", "s2"], "name": ["Red mug", "Blue cup"], "tags": ["kitchen|mugs", "kitchen"],
                             "weight": ["0.3", "0.2"]})
    customers = pl.DataFrame({"id": ["c1", "c2"], "country": ["DE", "FR"], "age": ["31", "45"]})
    for name, frame in {"events": events(), "products": products, "customers": customers}.items():
        path = tmp_path / f"{name}.{fmt}"
        {"csv": lambda f, p: f.write_csv(p), "tsv": lambda f, p: f.write_csv(p, separator="\t"),
         "parquet": lambda f, p: f.write_parquet(p), "jsonl": lambda f, p: f.write_ndjson(p)}[fmt](frame, path)
    table = TABLE | {"interactions": f"events.{fmt}", "timestamp_unit": "iso8601",
                     "items": {"file": f"products.{fmt}", "id": "sku", "columns": {"title": "name", "tags": "tags",
                                                                                   "weight": "weight"}},
                     "users": {"file": f"customers.{fmt}", "id": "id"}}
    tables = read_source("table", tmp_path, table=table)
    assert tables.interactions.schema == INTERACTIONS
    assert tables.interactions.rows() == [("c1", "s1", 4.0, 1577872800), ("c1", "s2", 5.0, 1577923200),
                                          ("c2", "s1", 2.0, 1578049200)]
    assert tables.items.to_dicts()[0] == {"item_id": "s1", "title": "Red mug", "tags": ["kitchen", "mugs"], "weight": 0.3}
    assert tables.users.schema == {"user_id": pl.String, "country": pl.String, "age": pl.Int64}


def test_table_single_file_implicit_feedback_in_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "clicks.parquet"
    pl.DataFrame({"u": [1, 2], "i": [10.0, 11.0], "ts": [1_600_000_000_123, 1_600_000_001_999]}).write_parquet(path)
    table = {"columns": {"user": "u", "item": "i", "timestamp": "ts"}, "timestamp_unit": "ms", "feedback": "implicit"}
    interactions = read_source("table", path, table=table).interactions
    assert interactions.rows() == [("1", "10", None, 1_600_000_000), ("2", "11", None, 1_600_000_001)], (
        "integer ids as text, whole-number float ids without '.0', implicit feedback has no rating")


def test_table_explicit_feedback_needs_a_rating_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="feedback is explicit but data.table.columns.rating names no column"):
        read_source("table", tmp_path, table={"columns": {"user": "u", "item": "i", "timestamp": "t"}})


def test_table_unparseable_iso_times_are_named_with_rows(tmp_path: Path) -> None:
    frame = events().with_columns(pl.Series("when", ["2020-01-01", "yesterday", "2020-13-45"]))
    frame.write_csv(tmp_path / "events.csv")
    table = TABLE | {"interactions": "events.csv", "timestamp_unit": "iso8601"}
    with pytest.raises(ValueError, match=r"2 timestamps are not ISO 8601 dates or times, e.g. 'yesterday', "
                                         r"'2020-13-45' \(rows 1, 2\)"):
        read_source("table", tmp_path, table=table)


# --- synthetic --------------------------------------------------------------------------------------


def test_synthetic_source_has_side_features_for_every_model_family(tmp_path: Path) -> None:
    tables = read_source("synthetic", tmp_path / "unused", synthetic={"interactions": 20_000, "seed": 3})
    assert tables.interactions.schema == INTERACTIONS and tables.interactions.height == 20_000
    assert set(tables.items.columns) == {"item_id", "title", "description", "genres", "year", "price"}
    assert set(tables.users.columns) == {"user_id", "age", "gender", "occupation"}
