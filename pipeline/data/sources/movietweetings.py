"""MovieTweetings (Dooms et al., CrowdRec 2013): `ratings.dat`, `movies.dat`, `users.dat`, `::`-separated.

ratings: user_id::movie_id::rating(0-10)::unix seconds; movies: movie_id::title (year)::genre|genre (the
MovieLens 10M layout); users: user_id::twitter_id (the Twitter id is an identifier, not an attribute, so it
is not kept).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.config import DataParams
from pipeline.data.schema import INTERACTIONS_SCHEMA, USER
from pipeline.data.sources.movielens import read_movies_dat
from pipeline.data.sources.tables import (
    SourceScans,
    empty_items,
    empty_users,
    read_side_file,
    require_file,
    scan_fields,
    typed_interactions,
)

SEPARATOR = "::"


def read_movietweetings(directory: Path, params: DataParams) -> SourceScans:
    ratings = require_file(directory / "ratings.dat", "MovieTweetings needs ratings.dat in data.path")
    fields = scan_fields(ratings, SEPARATOR, list(INTERACTIONS_SCHEMA),
                         hint="MovieTweetings files are '::'-separated: user::movie::rating::timestamp")
    movies, users = directory / "movies.dat", directory / "users.dat"
    return SourceScans(
        interactions=typed_interactions(fields, drop_all_null=True),
        items=read_movies_dat(movies).lazy() if movies.is_file() else empty_items(),
        users=read_side_file(users, SEPARATOR, [USER, "twitter_id"]).lazy().select(pl.col(USER))
        if users.is_file() else empty_users(),
    )
