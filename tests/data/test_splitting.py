"""k-core filtering and the per-user temporal split on the real bundled data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.data.filtering import kcore
from pipeline.data.sources import read_source
from pipeline.data.splitting import temporal_split


@pytest.fixture(scope="module")
def filtered(movietweetings_dir: Path) -> pl.DataFrame:
    return kcore(read_source("movietweetings", movietweetings_dir).interactions, 5)


def test_five_core_of_movietweetings_has_the_documented_size(filtered: pl.DataFrame) -> None:
    assert (filtered.height, filtered["user_id"].n_unique(), filtered["item_id"].n_unique()) == (68_055, 4_333, 2_414)
    assert filtered.group_by("user_id").len()["len"].min() >= 5
    assert filtered.group_by("item_id").len()["len"].min() >= 5


def test_temporal_split_sizes_and_no_leakage(filtered: pl.DataFrame) -> None:
    parts = temporal_split(filtered, 0.1, 0.1)
    assert sum(frame.height for frame in parts.values()) == filtered.height
    sizes = filtered.group_by("user_id").len().with_columns(
        expected=pl.max_horizontal(pl.lit(1), (pl.col("len") * 0.1).floor().cast(pl.Int64))
    )
    for name in ("valid", "test"):
        counts = parts[name].group_by("user_id").len().join(sizes, on="user_id", suffix="_all")
        assert (counts["len"] == counts["expected"]).all(), f"{name} holds max(1, floor(0.1 n)) per user"
    last_train = parts["train"].group_by("user_id").agg(pl.col("timestamp").max().alias("train_end"))
    first_valid = parts["valid"].group_by("user_id").agg(pl.col("timestamp").min().alias("valid_start"),
                                                        pl.col("timestamp").max().alias("valid_end"))
    first_test = parts["test"].group_by("user_id").agg(pl.col("timestamp").min().alias("test_start"))
    joined = last_train.join(first_valid, on="user_id").join(first_test, on="user_id")
    assert (joined["valid_start"] >= joined["train_end"]).all()
    assert (joined["test_start"] >= joined["valid_end"]).all()


def test_users_too_short_to_hold_out_stay_in_train() -> None:
    frame = pl.DataFrame({"user_id": ["a", "a", "b", "b", "b"], "item_id": ["1", "2", "1", "2", "3"],
                          "rating": [1.0] * 5, "timestamp": [1, 2, 1, 2, 3]})
    parts = temporal_split(frame, 0.1, 0.1)
    assert parts["train"].filter(pl.col("user_id") == "a").height == 2
    assert parts["test"]["item_id"].to_list() == ["3"] and parts["valid"]["item_id"].to_list() == ["2"]
