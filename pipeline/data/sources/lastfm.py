"""Last.fm HetRec 2011 (Cantador et al., HetRec workshop at RecSys 2011), tab-separated files with headers:

- `user_artists.dat` (userID, artistID, weight): how often the user played the artist. Implicit feedback;
  the play count is kept as `rating`, so set `validation.rating_max: null` (docs/data.md) and, to turn
  counts into positives, `data.implicit_threshold`.
- `artists.dat` (id, name, url, pictureURL): the name becomes the item `title`.
- `tags.dat` (tagID, tagValue) and `user_taggedartists.dat` (userID, artistID, tagID, day, month, year):
  each artist's most applied tags become its `tags`.

The play counts carry no time: they are totals over each user's listening history up to the crawl. Any
per-pair time derived from tagging dates would be invented (most pairs were never tagged, and a tag is not
a play), so every interaction gets the collection date, 2011-05-01 UTC, and a warning says that temporal
splits on this source are ordered by artist id within each user, not by time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from pipeline.config import DataParams
from pipeline.data.schema import ITEM, RATING, TIMESTAMP, USER
from pipeline.data.sources.tables import (
    SourceScans,
    empty_items,
    empty_users,
    read_side_file,
    require_file,
    scan_fields,
    top_tags,
    typed_interactions,
)

log = logging.getLogger(__name__)

COLLECTED_AT = 1_304_208_000  # 2011-05-01 00:00 UTC, release of the HetRec 2011 datasets
SEPARATOR = "\t"


def read_lastfm(directory: Path, params: DataParams) -> SourceScans:
    plays = require_file(directory / "user_artists.dat", "Last.fm HetRec 2011 needs user_artists.dat in data.path")
    fields = scan_fields(plays, SEPARATOR, [USER, ITEM, RATING], skip_header=True,
                         hint="Last.fm HetRec files are tab-separated: userID, artistID, weight")
    log.warning(
        "Last.fm play counts have no time: every interaction gets %d (2011-05-01), so temporal splits order "
        "each user's artists by id (docs/data.md)", COLLECTED_AT,
    )
    interactions = typed_interactions(fields.with_columns(pl.lit(COLLECTED_AT, pl.Int64).alias(TIMESTAMP)))
    return SourceScans(interactions=interactions, items=_artists(directory), users=empty_users())


def _artists(directory: Path) -> pl.LazyFrame:
    artists, tags, tagged = (directory / name for name in ("artists.dat", "tags.dat", "user_taggedartists.dat"))
    items = (
        read_side_file(artists, SEPARATOR, [ITEM, "title", "url", "picture_url"], skip_header=True)
        .lazy().select(ITEM, "title")
        if artists.is_file() else empty_items()
    )
    if not (tags.is_file() and tagged.is_file()):
        return items
    names = read_side_file(tags, SEPARATOR, ["tag_id", "tag"], skip_header=True).lazy()
    tagged_pairs = read_side_file(tagged, SEPARATOR, [USER, ITEM, "tag_id", "day", "month", "year"], skip_header=True)
    pairs = tagged_pairs.lazy().select(ITEM, "tag_id").join(names, on="tag_id")
    return items.join(top_tags(pairs), on=ITEM, how="left", maintain_order="left")
