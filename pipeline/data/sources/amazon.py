"""Amazon reviews as JSON lines, in the 2018 layout (Ni, Li & McAuley, EMNLP 2019) or the 2023 layout
(Hou et al., 2024), recognised from the first review. data.path holds one or more review files
(`<Category>.json[l][.gz]`) and optionally their metadata (`meta_<Category>.json[l][.gz]`).

- 2018 reviews: reviewerID, asin, overall (1-5), unixReviewTime (seconds), summary, reviewText;
  meta: asin, title, category (list), description (list), brand, price ('$12.99').
- 2023 reviews: user_id, parent_asin, rating (1-5), timestamp (milliseconds), title, text;
  meta: parent_asin, title, main_category, categories (list), description (list), store, price.
  Items are the parent ASINs (a product across its colours and sizes), as the 2023 benchmarks use.

Review text goes to `reviews.parquet` (user_id, item_id, timestamp, summary, text), not into item
features: a review is written after the interaction, so item text built from all reviews would show a
model its test interactions, and a new (cold) item has none. Metadata that summarises future behaviour
(average rating, rating counts, also-bought lists) is not kept for the same reason. The 2018 metadata
repeats some products; the first record of each is kept. The 2014 files are Python literals rather than
JSON and are not read (nothing in this pipeline evaluates data as code).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.config import DataParams, TimestampUnit
from pipeline.data.schema import INTERACTIONS_SCHEMA, ITEM, RATING, TIMESTAMP, USER
from pipeline.data.sources.tables import (
    SourceScans,
    check_json_lines_complete,
    check_utf8,
    empty_items,
    empty_users,
    first_line,
    seconds_from,
    typed_interactions,
)

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


@dataclass(frozen=True)
class Layout:
    name: str
    review_fields: dict[str, str]  # field in the file -> canonical column
    time_unit: TimestampUnit
    meta_text: dict[str, str]  # scalar text fields -> column
    meta_lists: dict[str, str]  # list-of-text fields -> column


LAYOUT_2018 = Layout(
    name="2018",
    review_fields={"reviewerID": USER, "asin": ITEM, "overall": RATING, "unixReviewTime": TIMESTAMP,
                   "summary": "summary", "reviewText": "text"},
    time_unit="s",
    meta_text={"asin": ITEM, "title": "title", "brand": "brand", "price": "price"},
    meta_lists={"category": "categories", "description": "description"},
)
LAYOUT_2023 = Layout(
    name="2023",
    review_fields={"user_id": USER, "parent_asin": ITEM, "rating": RATING, "timestamp": TIMESTAMP,
                   "title": "summary", "text": "text"},
    time_unit="ms",
    meta_text={"parent_asin": ITEM, "title": "title", "main_category": "main_category", "store": "brand",
               "price": "price"},
    meta_lists={"categories": "categories", "description": "description"},
)


def read_amazon(directory: Path, params: DataParams) -> SourceScans:
    files = sorted(p for p in directory.iterdir() if p.name.endswith(JSON_SUFFIXES)) if directory.is_dir() else []
    reviews = [p for p in files if not p.name.startswith("meta_")]
    meta = [p for p in files if p.name.startswith("meta_")]
    if not reviews:
        raise FileNotFoundError(
            f"{directory} holds no Amazon review file (<Category>.json, .jsonl or .json.gz beside meta_<Category>...)"
        )
    for path in reviews + meta:
        if not path.name.endswith(".gz"):
            check_utf8(path)
            check_json_lines_complete(path)
    layout = _layout(reviews[0])
    log.info("Amazon %s layout: %s", layout.name, ", ".join(p.name for p in reviews))
    fields = layout.review_fields
    scanned = pl.scan_ndjson(reviews, schema={name: pl.String for name in fields}).select(
        pl.col(name).alias(column) for name, column in fields.items()
    )
    scanned = seconds_from(scanned, layout.time_unit, where=str(reviews[0]))
    interactions = typed_interactions(scanned.select(*INTERACTIONS_SCHEMA))
    review_text = scanned.select(USER, ITEM, TIMESTAMP, "summary", "text").filter(
        pl.col("summary").is_not_null() | pl.col("text").is_not_null()
    )
    return SourceScans(
        interactions=interactions,
        items=_items(meta, layout) if meta else empty_items(),
        users=empty_users(),
        reviews=review_text,
    )


def _layout(path: Path) -> Layout:
    line = first_line(path)
    if not line.strip():
        return LAYOUT_2018  # an empty file: validation reports the empty table
    try:
        keys = set(json.loads(line))
    except (json.JSONDecodeError, TypeError):
        raise ValueError(
            f"{path}: the first line is not a JSON object ({line[:80]!r}); Amazon reviews are JSON lines "
            "(the 2014 files are Python literals: use the 2018 or 2023 release)"
        ) from None
    if {"reviewerID", "asin"} <= keys:
        return LAYOUT_2018
    if {"user_id", "parent_asin"} <= keys:
        return LAYOUT_2023
    raise ValueError(
        f"{path}: fields {', '.join(sorted(keys))} match neither the 2018 layout (reviewerID, asin, overall, "
        "unixReviewTime) nor the 2023 layout (user_id, parent_asin, rating, timestamp)"
    )


def _items(meta: list[Path], layout: Layout) -> pl.LazyFrame:
    schema = {name: pl.String for name in layout.meta_text} | {name: pl.List(pl.String) for name in layout.meta_lists}
    scanned = pl.scan_ndjson(meta, schema=schema).select(
        *(pl.col(name).alias(column) for name, column in layout.meta_text.items()),
        *(pl.col(name).alias(column) for name, column in layout.meta_lists.items()),
    )
    price = pl.col("price").str.replace_all(r"[$,\s]", "").cast(pl.Float64, strict=False)
    categories = pl.col("categories").list.eval(pl.element().str.strip_chars()).list.filter(pl.element() != "")
    if "main_category" in scanned.collect_schema():
        categories = pl.concat_list(pl.col("main_category"), categories).list.drop_nulls().list.unique(maintain_order=True)
    return scanned.filter(pl.col(ITEM).is_not_null()).unique(ITEM, keep="first", maintain_order=True).select(
        ITEM,
        "title",
        pl.col("description").list.join(" ").str.strip_chars(),
        categories.alias("categories"),
        "brand",
        price.alias("price"),
    )
