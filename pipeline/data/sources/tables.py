"""The canonical tables every source reader returns, and the lenient helpers the readers share.

Readers rename and type what they can and leave the judging to validation (pipeline.data.validation): a
value that does not parse keeps its column as text, an empty field is a missing value, a column absent from
the whole file stays absent, so a bad file is reported with every problem at once instead of a parser
traceback. What they do reject is a file that cannot be read as a table at all: bytes that are not text, a
last line cut off mid-way, or a separator that occurs nowhere.

Readers return polars lazy plans (`SourceScans`): ingest streams them to Parquet, so a 20M-row file is never
held in memory as Python objects. Deciding how to type a column needs one cheap pass over it (does every
value parse?), which `type_leniently` does for all columns at once.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from pipeline.config import TimestampUnit
from pipeline.data.schema import INTERACTIONS_SCHEMA, ITEM, TIMESTAMP, USER

# Missing-value spellings that exports (pandas, R, SQL dumps) write into id columns; an id is never one of them.
NULL_ID_TOKENS = ("nan", "NaN", "NAN", "NaT", "null", "NULL", "None", "<NA>", "NA", "N/A", "#N/A")
LIKELY_SEPARATORS = ("::", "\t", ",", ";", "|")
SIDE_FILE_ENCODINGS = ("utf-8", "latin-1")  # latin-1 decodes anything, so it is the fallback
_CHUNK_BYTES = 1 << 24
_TAIL_BYTES = 1 << 16
_ISO_FORMATS = (  # tried in order; a value that matches none is reported by ingest
    "%+",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)
_UNIT_DIVISOR = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass(frozen=True)
class SourceTables:
    """The processed tables in memory (DESIGN.md section 3); `reviews` only for sources with review text."""

    interactions: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    reviews: pl.DataFrame | None = None


@dataclass(frozen=True)
class SourceScans:
    """What a reader returns: a lazy plan per processed table, written by ingest as `<field>.parquet`."""

    interactions: pl.LazyFrame
    items: pl.LazyFrame
    users: pl.LazyFrame
    reviews: pl.LazyFrame | None = None

    def tables(self) -> dict[str, pl.LazyFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def collect(self) -> SourceTables:
        return SourceTables(**{name: plan.collect() for name, plan in self.tables().items()})

    def write(self, directory: Path) -> dict[str, int]:
        """Stream every table to `directory/<name>.parquet`; returns the rows written per table."""
        rows = {}
        for name, plan in self.tables().items():
            target = directory / f"{name}.parquet"
            plan.sink_parquet(target)
            rows[name] = pl.scan_parquet(target).select(pl.len()).collect().item()  # from the footer
        return rows


# --- whole-file checks ----------------------------------------------------------------------------


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {what}")
    return path


def check_utf8(path: Path) -> None:
    """Fail with the line number of the first byte sequence that is not UTF-8 (streamed, any file size)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: max(error.start - pending, 0)].count(b"\n")
                raise ValueError(
                    f"{path}: line {line} is not valid UTF-8 ({error.reason}); re-encode the file as UTF-8"
                ) from None
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: line {line} is not valid UTF-8 (the file ends inside a character); "
                         "the file looks truncated, fetch it again") from None


def check_not_truncated(path: Path, separator: str, n_fields: int) -> None:
    """A last line without a line break and with fewer fields than a record is a copy or download that
    stopped half-way; reading it as a short record would hide that, so it is rejected here."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb") as handle:
        handle.seek(max(size - _TAIL_BYTES, 0))
        tail = handle.read()
    if tail.endswith(b"\n") or (b"\n" not in tail and size > _TAIL_BYTES):
        return  # complete, or a last line too long to judge
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace").rstrip("\r")
    found = last.count(separator) + 1
    if found < n_fields:
        raise ValueError(
            f"{path}: the last line {last!r} has {found} of {n_fields} fields and no line break: the file looks "
            "truncated (an interrupted copy or download); fetch it again"
        )


def check_separator(path: Path, first_line: str, separator: str, hint: str) -> None:
    """A file whose first record has no separator at all was written with another one: name it."""
    if not first_line or separator in first_line:
        return
    others = sorted((s for s in LIKELY_SEPARATORS if s != separator and s in first_line), key=first_line.count)
    looks = f"; it looks {others[-1]!r}-separated" if others else ""
    raise ValueError(f"{path}: the first line {first_line!r} has no {separator!r} separator{looks}. {hint}")


def check_json_lines_complete(path: Path) -> None:
    """A JSON-lines file whose last line has no line break and is not a whole JSON value was cut off."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(size - _TAIL_BYTES, 0))
        tail = handle.read()
    if not tail or tail.endswith(b"\n") or (b"\n" not in tail and size > _TAIL_BYTES):
        return
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        json.loads(last)
    except ValueError:
        raise ValueError(
            f"{path}: the last line {last[:80].decode('utf-8', errors='replace')!r} is not complete JSON and has no "
            "line break: the file looks truncated (an interrupted copy or download); fetch it again"
        ) from None


def first_line(path: Path) -> str:
    """The first line of a text file (gzip-compressed or not), for sniffing its layout."""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as handle:
        return handle.readline(_TAIL_BYTES).decode("utf-8", errors="replace").rstrip("\r\n")


# --- reading --------------------------------------------------------------------------------------


def scan_fields(path: Path, separator: str, names: list[str], *, hint: str, skip_header: bool = False) -> pl.LazyFrame:
    """A UTF-8 text file without quoting, one record per line, as String columns `names`.

    A line with fewer fields gets nulls (validation reports them); an empty field is a missing value.
    """
    check_utf8(path)
    check_not_truncated(path, separator, len(names))
    check_separator(path, first_line(path), separator, hint)
    lines = pl.scan_lines(path, name="line")
    return _split(lines.slice(1) if skip_header else lines, separator, names)


def read_side_file(path: Path, separator: str, names: list[str], *, skip_header: bool = False) -> pl.DataFrame:
    """A small items/users file as String columns `names`: UTF-8, or latin-1 where the published files use
    it (MovieLens 100K/1M)."""
    raw = path.read_bytes()
    for encoding in SIDE_FILE_ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()[1 if skip_header else 0:]
    return _split(pl.LazyFrame({"line": pl.Series(lines, dtype=pl.String)}), separator, names).collect()


def _split(lines: pl.LazyFrame, separator: str, names: list[str]) -> pl.LazyFrame:
    parts = (
        lines.filter(pl.col("line").str.len_bytes() > 0)
        .select(pl.col("line").str.splitn(separator, len(names)).struct.rename_fields(names))
        .unnest("line")
    )
    stripped = pl.col(names).str.strip_chars()
    return parts.with_columns(pl.when(stripped != "").then(stripped))


def scan_csv_text(path: Path, separator: str = ",") -> pl.LazyFrame:
    """A CSV file with a header, every column as String (typing is `type_leniently`'s job)."""
    check_utf8(path)
    if path.stat().st_size == 0:
        return pl.LazyFrame()
    check_not_truncated(path, separator, first_line(path).count(separator) + 1)
    return pl.scan_csv(path, separator=separator, infer_schema=False, truncate_ragged_lines=True)


# --- typing ---------------------------------------------------------------------------------------


def type_leniently(
    frame: pl.LazyFrame, dtypes: dict[str, pl.DataType], *, drop_all_null: bool = False
) -> pl.LazyFrame:
    """Cast each column in `dtypes` where every value parses; leave it as text otherwise, for validation to
    name the bad values. With `drop_all_null`, a column null on every row of a non-empty table is dropped
    (a headerless file without that field), so validation reports the column as missing.

    One pass over the data computes, per column, its nulls before and after the cast.
    """
    schema = frame.collect_schema()
    present = [c for c in dtypes if c in schema]
    if not present:
        return frame
    casts = {c: _parse(c, schema[c], dtypes[c]) for c in present}
    stats = frame.select(
        pl.len().alias("__rows"),
        *(pl.col(c).null_count().alias(f"{c}__before") for c in present),
        *(casts[c].null_count().alias(f"{c}__after") for c in present),
    ).collect().row(0, named=True)
    rows = stats["__rows"]
    dropped = [c for c in present if drop_all_null and rows > 0 and stats[f"{c}__before"] == rows]
    parsed = [casts[c] for c in present if c not in dropped and stats[f"{c}__after"] == stats[f"{c}__before"]]
    return frame.drop(dropped).with_columns(parsed)


def _parse(column: str, current: pl.DataType, target: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    if current == pl.String and target.is_numeric():
        value = value.str.strip_chars()
    return value.cast(target, strict=False).alias(column)


def ids_as_text(frame: pl.LazyFrame, columns: Iterable[str] = (USER, ITEM)) -> pl.LazyFrame:
    """Ids are kept verbatim as text; whole-number float ids (a Parquet or JSON export) lose their '.0',
    NaN and the usual missing-value spellings become nulls for validation to count."""
    schema = frame.collect_schema()
    expressions = []
    for column in (c for c in columns if c in schema):
        value = pl.col(column)
        if schema[column].is_float():
            value = value.fill_nan(None)
            whole = value.cast(pl.Int64, strict=False).cast(pl.String)
            value = pl.when(value == value.floor()).then(whole).otherwise(value.cast(pl.String))
        else:
            value = value.cast(pl.String)
        expressions.append(pl.when(~value.is_in(NULL_ID_TOKENS)).then(value).alias(column))
    return frame.with_columns(expressions)


def typed_interactions(frame: pl.LazyFrame, *, drop_all_null: bool = False) -> pl.LazyFrame:
    """Canonical interaction columns, typed leniently, in schema order (absent ones stay absent)."""
    typed = type_leniently(ids_as_text(frame), dict(INTERACTIONS_SCHEMA), drop_all_null=drop_all_null)
    present = set(typed.collect_schema())
    return typed.select([c for c in INTERACTIONS_SCHEMA if c in present])


def seconds_from(frame: pl.LazyFrame, unit: TimestampUnit, *, column: str = TIMESTAMP, where: str) -> pl.LazyFrame:
    """Convert a time column to Unix seconds from its declared unit.

    Integer text and integers are divided (floor) by the unit; a typed datetime is unambiguous whatever the
    unit says; ISO 8601 text (with an offset, or naive = UTC, or a date) is parsed, and any value that does
    not parse fails here with examples, because left as text it would be reported as 'not an integer'.
    """
    schema = frame.collect_schema()
    if column not in schema:
        return frame
    dtype = schema[column]
    if isinstance(dtype, pl.Datetime | pl.Date):
        return frame.with_columns(pl.col(column).cast(pl.Datetime("us")).dt.epoch("s").alias(column))
    if unit == "iso8601":
        return _iso_seconds(frame, column, where)
    if dtype == pl.String:
        frame = type_leniently(frame, {column: pl.Int64()})
        if frame.collect_schema()[column] == pl.String:
            return frame  # not all integers: validation names the values
    if unit == "s":
        return frame.with_columns(pl.col(column).cast(pl.Int64))
    return frame.with_columns((pl.col(column).cast(pl.Int64) // _UNIT_DIVISOR[unit]).alias(column))


def _iso_seconds(frame: pl.LazyFrame, column: str, where: str) -> pl.LazyFrame:
    text = pl.col(column).cast(pl.String).str.strip_chars()
    parsed = pl.coalesce([text.str.to_datetime(f, time_zone="UTC", strict=False, time_unit="us") for f in _ISO_FORMATS])
    bad = (
        frame.with_row_index("__row")
        .filter(text.is_not_null() & parsed.is_null())
        .select("__row", text.alias("value"))
    )
    count = bad.select(pl.len()).collect().item()
    if count:
        examples = bad.head(3).collect()
        raise ValueError(
            f"{where}: {count} timestamp{'s are' if count > 1 else ' is'} not ISO 8601 dates or times, e.g. "
            f"{', '.join(repr(v) for v in examples['value'])} (rows {', '.join(map(str, examples['__row']))}); "
            "fix them, or declare the right data.table.timestamp_unit (s, ms, us, ns or iso8601)"
        )
    return frame.with_columns(parsed.dt.epoch("s").alias(column))


def top_tags(pairs: pl.LazyFrame, limit: int = 10) -> pl.LazyFrame:
    """item_id, tags: each item's `limit` most applied tags (lower-cased, most frequent first, ties by
    name). Free-text tags have a long tail of one-off spellings that would only add noise as features."""
    tag = pl.col("tag").str.strip_chars().str.to_lowercase()
    counted = (
        pairs.select(ITEM, tag.alias("tag"))
        .filter(pl.col(ITEM).is_not_null() & (pl.col("tag").str.len_chars() > 0))
        .group_by(ITEM, "tag").len()
        .sort([ITEM, "len", "tag"], descending=[False, True, False])
    )
    return counted.group_by(ITEM, maintain_order=True).agg(pl.col("tag").head(limit).alias("tags"))


def year_from_title(title: pl.Expr) -> pl.Expr:
    """MovieLens and MovieTweetings end titles with the release year: 'Heat (1995)'."""
    return title.str.extract(r"\((\d{4})\)\s*$").cast(pl.Int32, strict=False).alias("year")


def genres_list(text: pl.Expr, separator: str = "|") -> pl.Expr:
    """'Crime|Drama' -> ['Crime', 'Drama']; the published placeholders for 'no genre' become []."""
    return (
        text.fill_null("").str.split(separator)
        .list.eval(pl.element().str.strip_chars())
        .list.filter((pl.element() != "") & (pl.element() != "(no genres listed)"))
    )


def empty_items() -> pl.LazyFrame:
    return pl.LazyFrame(schema={ITEM: pl.String})


def empty_users() -> pl.LazyFrame:
    """A source without user attributes writes an empty users table (the ids are in the interactions)."""
    return pl.LazyFrame(schema={USER: pl.String})
