"""The regime files on the real bundled data: sizes, seeding and, above all, no leakage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.data.filtering import kcore
from pipeline.data.regimes import RegimeSplits, build_regimes
from pipeline.data.sources import read_source


def regimes_of(interactions: pl.DataFrame, seed: int = 2020) -> RegimeSplits:
    return build_regimes(interactions, valid_fraction=0.1, test_fraction=0.1, cold_user_fraction=0.1,
                         cold_item_fraction=0.1, cold_valid_share=0.5, reveal=(1, 3, 5), sparsity=(0.5, 0.2), leave_last_out=True, seed=seed)


@pytest.fixture(scope="module")
def filtered(movietweetings_dir: Path) -> pl.DataFrame:
    return kcore(read_source("movietweetings", movietweetings_dir).interactions, 5)


@pytest.fixture(scope="module")
def regimes(filtered: pl.DataFrame) -> RegimeSplits:
    return regimes_of(filtered)


def cold(regimes: RegimeSplits) -> tuple[set[str], set[str]]:
    return (set(regimes.users.filter("cold_user")["user_id"]), set(regimes.items.filter("cold_item")["item_id"]))


def test_no_cold_user_or_cold_item_in_any_training_file(regimes: RegimeSplits) -> None:
    cold_users, cold_items = cold(regimes)
    assert len(cold_users) == 433 and len(cold_items) == 241
    trainings = [regimes.warm["train"], regimes.warm["valid"], *regimes.sparse.values()]
    for frame in trainings:
        assert not set(frame["user_id"]) & cold_users
        assert not set(frame["item_id"]) & cold_items


def test_cold_items_are_the_latest_to_appear(regimes: RegimeSplits) -> None:
    items = regimes.items
    assert items.filter("cold_item")["first_seen"].min() >= items.filter(~pl.col("cold_item"))["first_seen"].max()


def test_warm_test_never_precedes_the_users_training(regimes: RegimeSplits) -> None:
    warm = regimes.warm
    train_end = warm["train"].group_by("user_id").agg(pl.col("timestamp").max().alias("end"))
    test_start = warm["test"].group_by("user_id").agg(pl.col("timestamp").min().alias("start"))
    joined = train_end.join(test_start, on="user_id")
    assert joined.height > 3000 and (joined["start"] >= joined["end"]).all()


def test_sparsified_training_keeps_the_fraction_per_user(regimes: RegimeSplits) -> None:
    full = regimes.warm["train"].group_by("user_id").len()
    for fraction, sparse in regimes.sparse.items():
        kept = sparse.group_by("user_id").len().join(full, on="user_id", suffix="_full")
        expected = (kept["len_full"] * fraction).ceil().clip(lower_bound=1)
        assert (kept["len"] == expected).all()
        assert sparse.join(regimes.warm["train"], on=["user_id", "item_id", "timestamp"], how="anti").is_empty()


def test_cold_users_reveal_their_first_k_and_are_tested_on_the_rest(regimes: RegimeSplits) -> None:
    for k, parts in regimes.cold_users.items():
        revealed = parts["revealed"].group_by("user_id").agg(pl.len(), pl.col("timestamp").max().alias("last"))
        assert revealed["len"].max() == k
        later = pl.concat([parts["valid"], parts["test"]]).group_by("user_id").agg(
            pl.col("timestamp").min().alias("first"))
        joined = revealed.join(later, on="user_id")
        assert (joined["first"] >= joined["last"]).all()


def test_cold_users_split_into_validation_and_test_halves(regimes: RegimeSplits) -> None:
    parts = regimes.users.filter("cold_user").group_by("cold_part").len()
    assert dict(parts.iter_rows()) == {"valid": 216, "test": 217}
    for k_parts in regimes.cold_users.values():
        assert not set(k_parts["valid"]["user_id"]) & set(k_parts["test"]["user_id"])


def test_cold_item_parts_hold_only_warm_users_and_their_own_cold_items(regimes: RegimeSplits) -> None:
    cold_users, _ = cold(regimes)
    assert sum(part.height for part in regimes.cold_items.values()) > 10_000
    for part, targets in regimes.cold_items.items():
        items = set(regimes.items.filter(pl.col("cold_part") == part)["item_id"])
        assert set(targets["item_id"]) <= items and not set(targets["user_id"]) & cold_users
    assert dict(regimes.items.filter("cold_item").group_by("cold_part").len().iter_rows()) == {"valid": 120, "test": 121}


def test_regimes_are_reproducible_from_the_seed(filtered: pl.DataFrame, regimes: RegimeSplits) -> None:
    again = regimes_of(filtered)
    assert again.users.equals(regimes.users) and again.sparse[0.2].equals(regimes.sparse[0.2])
    other = regimes_of(filtered, seed=7)
    assert not other.users.equals(regimes.users)


def test_leave_last_out_holds_each_users_last_interaction(regimes: RegimeSplits, filtered: pl.DataFrame) -> None:
    loo = regimes.leave_last_out
    assert loo["test"].height == filtered["user_id"].n_unique() == loo["valid"].height
    last = filtered.group_by("user_id").agg(pl.col("timestamp").max())
    assert loo["test"].join(last, on=["user_id", "timestamp"]).height == loo["test"].height
