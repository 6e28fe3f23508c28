"""MovieTweetings (Dooms et al., CrowdRec 2013): `ratings.dat`, `movies.dat`, `users.dat`, `::`-separated.

ratings: user_id::movie_id::rating(0-10)::unix seconds; movies: movie_id::title (year)::genre|genre;
users: user_id::twitter_id (the Twitter id is an identifier, not an attribute, so it is not kept).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.data.schema import INTERACTIONS_SCHEMA, ITEM, USER
from pipeline.data.sources.tables import SourceTables, cast_lenient, ids_as_text, read_lines, split_fields

SEPARATOR = "::"


def read_movietweetings(directory: Path) -> SourceTables:
    ratings_file = directory / "ratings.dat"
    if not ratings_file.exists():
        raise FileNotFoundError(f"{ratings_file} not found: MovieTweetings needs ratings.dat in data.path")
    ratings = split_fields(read_lines(ratings_file), SEPARATOR, list(INTERACTIONS_SCHEMA))
    interactions = ids_as_text(cast_lenient(ratings, INTERACTIONS_SCHEMA))
    return SourceTables(interactions=interactions, items=_read_movies(directory / "movies.dat"),
                        users=_read_users(directory / "users.dat"))


def _read_movies(path: Path) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema={ITEM: pl.String, "title": pl.String, "year": pl.Int32, "genres": pl.List(pl.String)})
    movies = split_fields(read_lines(path), SEPARATOR, [ITEM, "title", "genres"])
    return movies.with_columns(
        pl.col("title").str.extract(r"\((\d{4})\)\s*$").cast(pl.Int32, strict=False).alias("year"),
        pl.col("genres").fill_null("").str.split("|").list.filter(pl.element() != ""),
    ).select(ITEM, "title", "year", "genres")


def _read_users(path: Path) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema={USER: pl.String})
    return split_fields(read_lines(path), SEPARATOR, [USER, "twitter_id"]).select(USER)
