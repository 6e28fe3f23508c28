"""The seeded synthetic generator: exact sizes, reproducible, and the structure it promises (long tails,
taste clusters, temporal drift, unique times per user), checked on the data rather than the code."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.config import SyntheticParams, ValidationParams
from pipeline.data.sources.synthetic import generate
from pipeline.data.sources.tables import SourceTables
from pipeline.data.validation import validate_tables


@pytest.fixture(scope="module")
def tables() -> SourceTables:
    return generate(SyntheticParams(interactions=60_000, seed=11))


def test_sizes_are_exact_and_generation_is_reproducible(tables: SourceTables) -> None:
    assert tables.interactions.height == 60_000
    assert tables.users.height == 1_200 and tables.items.height == 300, "defaults: n/50 users, n/200 items"
    assert tables.interactions.equals(generate(SyntheticParams(interactions=60_000, seed=11)).interactions)
    assert not tables.interactions.equals(generate(SyntheticParams(interactions=60_000, seed=12)).interactions)
    custom = generate(SyntheticParams(interactions=5_000, users=100, items=40, clusters=4))
    assert (custom.interactions.height, custom.users.height, custom.items.height) == (5_000, 100, 40)
    assert custom.items["genres"].explode().n_unique() <= 4


def test_popularity_and_activity_have_long_tails(tables: SourceTables) -> None:
    per_item = tables.interactions.group_by("item_id").len()["len"].sort(descending=True).to_numpy()
    assert per_item[: len(per_item) // 10].sum() > 0.4 * per_item.sum(), "top 10% of items draw > 40%"
    per_user = tables.interactions.group_by("user_id").len()["len"]
    assert per_user.max() > 8 * per_user.median()


def test_users_lean_to_a_taste_cluster(tables: SourceTables) -> None:
    genres = tables.interactions.join(tables.items.select("item_id", pl.col("genres").list.first().alias("genre")),
                                      on="item_id")
    top_share = genres.group_by("user_id", "genre").len().group_by("user_id").agg(
        (pl.col("len").max() / pl.col("len").sum()).alias("share"), pl.col("len").sum().alias("n")
    ).filter(pl.col("n") >= 30)["share"].median()
    assert top_share > 3 / 20, "a random user would spread evenly over the 20 genres"


def test_popularity_drifts_over_time(tables: SourceTables) -> None:
    year = pl.from_epoch("timestamp", "s").dt.year()
    counts = tables.interactions.with_columns(year.alias("year")).group_by("year", "item_id").len()
    early, late = (counts.filter(pl.col("year") == y).select("item_id", pl.col("len").alias(str(y))) for y in (2011, 2018))
    both = early.join(late, on="item_id", how="full", coalesce=True).fill_null(0)
    assert np.corrcoef(both["2011"].to_numpy(), both["2018"].to_numpy())[0, 1] < 0.8
    first_seen = tables.interactions.group_by("item_id").agg(pl.col("timestamp").min())
    assert first_seen["timestamp"].max() - first_seen["timestamp"].min() > 5 * 365 * 86_400, "items arrive over years"


def test_passes_the_real_validation_gate(tables: SourceTables) -> None:
    assert tables.interactions.select(pl.struct("user_id", "timestamp").is_duplicated().sum()).item() == 0
    report = validate_tables(ValidationParams(), interactions=tables.interactions, items=tables.items,
                             users=tables.users, now=1_700_000_000)
    assert report.success, report.failure_messages
