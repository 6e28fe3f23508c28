"""The generic `table` source: your own interaction log as CSV, TSV, Parquet or JSON lines, described in
params.yaml `data.table` (format, column mapping, timestamp unit, feedback kind, optional items/users files).

A column the mapping names but the file lacks is an error here rather than a 'missing column' from
validation, because the fix is in params.yaml or the export, and both are named in the message.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pipeline.config import DataParams, SideTable, TableFormat
from pipeline.data.features import CATEGORY_COLUMNS, TEXT_COLUMNS
from pipeline.data.schema import ITEM, RATING, TIMESTAMP, USER
from pipeline.data.sources.tables import (
    LIKELY_SEPARATORS,
    SourceScans,
    check_json_lines_complete,
    check_utf8,
    empty_items,
    empty_users,
    first_line,
    ids_as_text,
    scan_csv_text,
    seconds_from,
    type_leniently,
    typed_interactions,
)

SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
ID_TYPES = (pl.String, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
            pl.Float32, pl.Float64, pl.Categorical)


def read_table(path: Path, params: DataParams) -> SourceScans:
    spec = params.table
    assert spec is not None, "DataParams requires data.table for source 'table'"
    base = path if path.is_dir() else path.parent
    if path.is_dir() and spec.interactions is None:
        raise ValueError(f"data.path '{path}' is a folder: name the interactions file in data.table.interactions")
    file = base / spec.interactions if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found (data.path / data.table.interactions)")
    mapping = {USER: spec.columns.user, ITEM: spec.columns.item, TIMESTAMP: spec.columns.timestamp}
    if spec.columns.rating is not None:
        mapping[RATING] = spec.columns.rating
    frame = _scan(file, spec, list(mapping.values()))
    _check_columns(frame, file, spec, {f"columns.{key}": column for key, column in _keys(spec).items()})
    frame = frame.select(pl.col(column).alias(canonical) for canonical, column in mapping.items())
    if RATING not in mapping:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(RATING))
    frame = seconds_from(frame, spec.timestamp_unit, where=str(file))
    return SourceScans(
        interactions=typed_interactions(frame),
        items=_side(base, spec, spec.items, ITEM) if spec.items else empty_items(),
        users=_side(base, spec, spec.users, USER) if spec.users else empty_users(),
    )


def _keys(spec: TableFormat) -> dict[str, str]:
    return {key: column for key, column in spec.columns.model_dump().items() if column is not None}


def _format(file: Path, spec: TableFormat) -> str:
    if spec.format is not None:
        return spec.format
    suffixes = [s for s in file.suffixes if s != ".gz"]
    try:
        return SUFFIX_FORMATS[suffixes[-1].lower()]
    except (IndexError, KeyError):
        raise ValueError(f"{file}: cannot tell the format from the name; set data.table.format "
                         f"(csv, tsv, parquet or jsonl)") from None


def _separator(file: Path, spec: TableFormat) -> str:
    return spec.separator or ("\t" if _format(file, spec) == "tsv" else ",")


def _scan(file: Path, spec: TableFormat, columns: list[str]) -> pl.LazyFrame:
    """Text formats are read as text and typed later (lenient); Parquet keeps its own types."""
    kind = _format(file, spec)
    if kind == "parquet":
        try:
            return pl.scan_parquet(file)
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{file}: not a readable Parquet file ({error}); check data.table.format") from None
    if not file.name.endswith(".gz"):
        check_utf8(file)
    if kind == "jsonl":
        if not file.name.endswith(".gz"):
            check_json_lines_complete(file)
        return _scan_jsonl(file, columns)
    return scan_csv_text(file, _separator(file, spec))


def _scan_jsonl(file: Path, columns: list[str]) -> pl.LazyFrame:
    """JSON lines with the first record's fields: lists as lists of text, everything else as text (typed
    later, leniently). A field absent from the first record counts as absent (JSON has no header)."""
    line = first_line(file)
    if not line.strip():
        return pl.LazyFrame(schema=dict.fromkeys(columns, pl.String))
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise ValueError(f"{file}: the first line is not a JSON object ({line[:80]!r}); "
                         "data.table.format: jsonl expects one JSON object per line")
    schema = {key: pl.List(pl.String) if isinstance(value, list) else pl.String for key, value in record.items()}
    return pl.scan_ndjson(file, schema=schema)


def _check_columns(frame: pl.LazyFrame, file: Path, spec: TableFormat, wanted: dict[str, str]) -> None:
    """Every mapped column is there and has a type the pipeline can read; else say which key to change."""
    schema = frame.collect_schema()
    if not schema and file.stat().st_size == 0:
        return  # an empty file: validation reports the empty table
    for key, column in wanted.items():
        if column not in schema:
            raise ValueError(f"{file}: no column {column!r} (data.table.{key}); the file has "
                             f"{', '.join(map(repr, schema)) or 'no columns'}{_separator_hint(file, spec, schema)}")
        dtype = schema[column]
        if key in ("columns.user", "columns.item", "items.id", "users.id") and not isinstance(dtype, ID_TYPES):
            raise ValueError(f"{file}: column {column!r} (data.table.{key}) holds {dtype}; ids must be text or "
                             "integers: fix the export")
        if key == "columns.rating" and not (dtype.is_numeric() or dtype == pl.String or dtype == pl.Null):
            raise ValueError(f"{file}: column {column!r} (data.table.{key}) holds {dtype}; ratings must be numbers")
        if key == "columns.timestamp" and not (dtype.is_integer() or dtype in (pl.String, pl.Null) or dtype.is_temporal()):
            raise ValueError(f"{file}: column {column!r} (data.table.{key}) holds {dtype}; timestamps must be "
                             "integers, ISO 8601 text or datetimes")


def _separator_hint(file: Path, spec: TableFormat, schema: pl.Schema) -> str:
    if _format(file, spec) not in ("csv", "tsv") or len(schema) != 1:
        return ""
    header = next(iter(schema))
    others = [s for s in LIKELY_SEPARATORS if s != _separator(file, spec) and s in header]
    return f"; the header looks {others[0]!r}-separated: set data.table.separator" if others else ""


def _side(base: Path, spec: TableFormat, side: SideTable, id_column: str) -> pl.LazyFrame:
    """An items/users file: its id column renamed, the mapped (or all) columns kept; text-format category
    columns split into lists, and text columns that are all numbers typed as numbers (attributes)."""
    file = base / side.file
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found (data.table.{'items' if id_column == ITEM else 'users'}.file)")
    columns = side.columns or {c: c for c in _scan(file, spec, [side.id]).collect_schema() if c != side.id}
    frame = _scan(file, spec, [side.id, *columns.values()])
    where = "items" if id_column == ITEM else "users"
    _check_columns(frame, file, spec, {f"{where}.id": side.id} | {f"{where}.columns.{k}": v for k, v in columns.items()
                                                                 if k not in CATEGORY_COLUMNS})
    frame = frame.select(pl.col(side.id).alias(id_column), *(pl.col(v).alias(k) for k, v in columns.items()))
    schema = frame.collect_schema()
    lists = [c for c in columns if c in CATEGORY_COLUMNS and schema[c] == pl.String]
    frame = frame.with_columns(pl.col(c).str.split(spec.list_separator).list.eval(pl.element().str.strip_chars())
                               .list.filter(pl.element() != "") for c in lists)
    attributes = [c for c in columns if c not in CATEGORY_COLUMNS and c not in TEXT_COLUMNS and schema[c] == pl.String]
    frame = type_leniently(frame, dict.fromkeys(attributes, pl.Int64()))
    frame = type_leniently(frame, {c: pl.Float64() for c in attributes if frame.collect_schema()[c] == pl.String})
    return ids_as_text(frame, (id_column,))
