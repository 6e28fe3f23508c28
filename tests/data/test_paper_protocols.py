"""The CFGAN paper protocol on the bundled data: a seeded random 80/20 per user with ratings made
implicit, a validation part carved from the 80 % only, and a regime that trains, scores and labels itself
as the paper's protocol wherever it appears."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.data.filtering import kcore
from pipeline.data.paper_protocols import PROTOCOLS, cfgan_split, paper_regime, protocol_of
from pipeline.data.regimes import build_regimes
from pipeline.data.sources import read_source
from pipeline.evaluation.regimes import RegimeData
from pipeline.stages.report import title

KEY = ["user_id", "item_id", "timestamp"]


@pytest.fixture(scope="module")
def filtered(movietweetings_dir: Path) -> pl.DataFrame:
    return kcore(read_source("movietweetings", movietweetings_dir).interactions, 5)


@pytest.fixture(scope="module")
def parts(filtered: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return cfgan_split(filtered, valid_fraction=0.1, seed=2020)


def test_each_user_holds_out_a_random_fifth(filtered, parts) -> None:
    counts = {name: frame.group_by("user_id").len() for name, frame in parts.items()}
    joined = (filtered.group_by("user_id").len().rename({"len": "n"})
              .join(counts["test"].rename({"len": "test"}), on="user_id", how="left").fill_null(0))
    assert (joined["test"] == (joined["n"] * 0.2).round().clip(lower_bound=1)).all()
    # random, not temporal: a temporal holdout would put every user's latest interaction in test
    latest = filtered.sort(KEY).group_by("user_id").agg(pl.col("item_id").last())
    latest_in_test = latest.join(parts["test"], on=["user_id", "item_id"], how="semi").height / latest.height
    assert 0.1 < latest_in_test < 0.4


def test_parts_partition_the_data_and_validation_comes_from_the_training_80_percent(filtered, parts) -> None:
    assert sum(frame.height for frame in parts.values()) == filtered.height
    assert pl.concat(list(parts.values())).select(KEY).unique().height == filtered.select(KEY).unique().height
    per_user = (parts["train"].group_by("user_id").len().rename({"len": "train"})
                .join(parts["valid"].group_by("user_id").len().rename({"len": "valid"}), on="user_id"))
    expected = ((per_user["train"] + per_user["valid"]) * 0.1).round().clip(lower_bound=1)
    assert (per_user["valid"] == expected).all(), "a tenth of each user's 80 %, at least one"
    assert parts["test"].height == pytest.approx(0.2 * filtered.height, rel=0.05)


def test_every_rating_becomes_implicit_and_the_split_is_seeded(filtered, parts) -> None:
    assert all(frame["rating"].is_null().all() for frame in parts.values())
    again = cfgan_split(filtered, valid_fraction=0.1, seed=2020)
    other = cfgan_split(filtered, valid_fraction=0.1, seed=7)
    assert all(again[name].equals(parts[name]) for name in parts)
    assert not other["test"].equals(parts["test"])


def test_the_regime_trains_scores_and_labels_itself_as_the_papers(filtered, tmp_path: Path) -> None:
    regimes = build_regimes(filtered, valid_fraction=0.1, test_fraction=0.1, cold_user_fraction=0.1,
                            cold_item_fraction=0.1, cold_valid_share=0.5, reveal=(1,), sparsity=(),
                            leave_last_out=False, seed=2020, paper_protocols=("cfgan",))
    regimes.write(tmp_path)
    assert {path.name for path in (tmp_path / "paper_cfgan").iterdir()} == {"train.parquet", "valid.parquet",
                                                                             "test.parquet"}
    data = RegimeData.load(tmp_path)
    name = paper_regime("cfgan")
    assert name in data.training_sets()
    sets = data.warm_like_sets(name)
    assert sets["test"].candidates is None, "full ranking over the whole catalogue, as in the paper"
    assert len(sets["test"].history) == len(data.paper[name]["train"]) + len(data.paper[name]["valid"])
    assert protocol_of(name) is PROTOCOLS["cfgan"] and protocol_of("warm") is None
    assert "PAPER protocol" in title(name) and "0.294" in title(name)
