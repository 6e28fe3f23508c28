"""Reading MovieTweetings in its original layout, on the real bundled files and on damaged copies."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.data.sources import read_source


def test_reads_bundled_movietweetings_with_titles_and_genres(movietweetings_dir: Path) -> None:
    tables = read_source("movietweetings", movietweetings_dir)
    interactions = tables.interactions
    assert interactions.height == 100_000
    assert interactions.schema == {"user_id": pl.String, "item_id": pl.String, "rating": pl.Float64, "timestamp": pl.Int64}
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


def test_non_utf8_file_is_rejected_with_the_line_number(tmp_path: Path) -> None:
    tmp_path.joinpath("ratings.dat").write_bytes(b"1::0001::7::1365029107\n2::0002::8::13650\xff29108\n")
    with pytest.raises(ValueError, match=r"line 2 is not valid UTF-8"):
        read_source("movietweetings", tmp_path)


def test_unknown_source_and_missing_path_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known sources: movietweetings"):
        read_source("netflix", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_source("movietweetings", tmp_path / "nowhere")
