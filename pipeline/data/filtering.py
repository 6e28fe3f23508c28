"""Dataset preparation applied after validation: k-core filtering."""

from __future__ import annotations

import polars as pl

from pipeline.data.schema import ITEM, USER


def kcore(interactions: pl.DataFrame, k: int) -> pl.DataFrame:
    """Iteratively drop users and items with fewer than `k` interactions until none is left to drop."""
    if k <= 1:
        return interactions
    current = interactions
    while True:
        kept = current.filter((pl.len().over(USER) >= k) & (pl.len().over(ITEM) >= k))
        if kept.height == current.height:
            return kept
        current = kept
