"""Canonical column names and dtypes of the processed tables (DESIGN.md section 3)."""

from __future__ import annotations

import polars as pl

USER = "user_id"
ITEM = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

# Ids stay strings: original ids are kept verbatim (leading zeros of IMDb ids matter).
INTERACTIONS_SCHEMA: dict[str, pl.DataType] = {
    USER: pl.String(),
    ITEM: pl.String(),
    RATING: pl.Float64(),  # null for implicit feedback
    TIMESTAMP: pl.Int64(),  # seconds since the Unix epoch, UTC
}
ITEMS_REQUIRED = {ITEM: pl.String()}
USERS_REQUIRED = {USER: pl.String()}
