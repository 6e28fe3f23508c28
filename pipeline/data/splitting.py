"""Splits that keep original ids and timestamps, so any other tool can train and score on them."""

from __future__ import annotations

import polars as pl

from pipeline.data.schema import ITEM, TIMESTAMP, USER

MIN_HISTORY_TO_HOLD_OUT = 3  # a user needs one train, one valid and one test interaction


def temporal_split(interactions: pl.DataFrame, valid_fraction: float, test_fraction: float) -> dict[str, pl.DataFrame]:
    """Per-user temporal holdout: in time order, the latest max(1, floor(test_fraction * n)) go to test,
    the max(1, floor(valid_fraction * n)) before them to valid, the rest to train. Users with fewer than
    three interactions stay in train. Ties in time are broken by item id, so the split is deterministic."""
    n = pl.col("_n")
    return _holdout(
        interactions,
        n_valid=pl.max_horizontal(pl.lit(1), (n * valid_fraction).floor().cast(pl.Int64)),
        n_test=pl.max_horizontal(pl.lit(1), (n * test_fraction).floor().cast(pl.Int64)),
    )


def leave_last_out_split(interactions: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Leave-last-one-out, the sequential-recommendation protocol: each user's latest interaction is the
    test target, the one before it the validation target, the rest train."""
    return _holdout(interactions, n_valid=pl.lit(1), n_test=pl.lit(1))


def _holdout(interactions: pl.DataFrame, n_valid: pl.Expr, n_test: pl.Expr) -> dict[str, pl.DataFrame]:
    ranked = interactions.sort([USER, TIMESTAMP, ITEM]).with_columns(pl.len().over(USER).alias("_n"))
    position, n = pl.int_range(pl.len()).over(USER), pl.col("_n")
    held_out = n >= MIN_HISTORY_TO_HOLD_OUT
    part = (
        pl.when(held_out & (position >= n - n_test)).then(pl.lit(2, pl.UInt8))
        .when(held_out & (position >= n - n_test - n_valid)).then(pl.lit(1, pl.UInt8))
        .otherwise(pl.lit(0, pl.UInt8))
    )
    # One byte per row, not helper columns copied into every part: this split runs on all interactions.
    labels = ranked.select(part).to_series()
    ordered = ranked.drop("_n")
    return {name: ordered.filter(labels == code) for code, name in enumerate(("train", "valid", "test"))}
