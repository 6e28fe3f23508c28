"""The canonical trio every source reader returns, and lenient helpers for typing raw text columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.data.schema import ITEM, USER


@dataclass(frozen=True)
class SourceTables:
    interactions: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame


def read_lines(path: Path) -> pl.Series:
    """Every line of a text file as a string Series (no quoting, no header)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not valid UTF-8 ({error.reason}); re-encode the file as UTF-8") from None
    return pl.Series("line", text.splitlines(), dtype=pl.String)


def split_fields(lines: pl.Series, separator: str, names: list[str]) -> pl.DataFrame:
    """Split each line into `names` fields; a line with fewer fields gets nulls (validation reports them),
    and a field missing on every line is dropped so validation reports the column as missing."""
    lines = lines.filter(lines.str.len_chars() > 0)
    parts = lines.str.splitn(separator, len(names)).struct.rename_fields(names).struct.unnest()
    # an empty field is a missing value (e.g. "::0002" has no user id)
    stripped = pl.col(pl.String).str.strip_chars()
    parts = parts.with_columns(pl.when(stripped != "").then(stripped))
    return parts.select([column for column in names if parts[column].null_count() < parts.height or parts.height == 0])


def cast_lenient(frame: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns that parse cleanly; keep unparseable ones as text for validation to report."""
    casts = []
    for column, dtype in dtypes.items():
        if column not in frame.columns:
            continue
        converted = frame[column].cast(dtype, strict=False)
        if converted.null_count() == frame[column].null_count():
            casts.append(converted)
    return frame.with_columns(casts)


def ids_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.String) for c in (USER, ITEM) if c in frame.columns)
