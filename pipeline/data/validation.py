"""The data gate: Great Expectations suites that judge the ingested tables before anything trains on them.

Ingest is lenient on purpose (a column that does not parse stays text, an absent column stays absent, a
missing id is a null), so this module is the one place that decides whether the data is fit to use, and
it says in plain words what is wrong and where.

Each table is validated in two GX passes. The *structure* pass checks that required columns exist, have
the right types and that there are enough rows. The *content* pass (nulls, duplicates, ranges) then runs
only on columns whose structure passed, so a missing or mistyped column is reported once, as the root
cause, rather than as a cascade of GX exceptions from every expectation that reads it.
"""

from __future__ import annotations

import os

# GX 1.x reads this before any context exists; it keeps usage statistics off (the stage runs offline).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import shutil  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
from great_expectations.core.expectation_validation_result import ExpectationValidationResult  # noqa: E402
from great_expectations.data_context import EphemeralDataContext  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations import Expectation  # noqa: E402

from pipeline.config import ValidationParams  # noqa: E402
from pipeline.data.schema import ITEM, RATING, TIMESTAMP, USER  # noqa: E402

MAX_EXAMPLES = 3  # bad values and row numbers quoted per failure
FUTURE_TOLERANCE_S = 86_400  # clock skew and time zones: a stamp up to a day ahead is still plausible
MILLISECONDS_HINT = 10**11  # as seconds this is the year 5138; as milliseconds it is 1973
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES}


# --- what each column must hold -----------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a column must hold: the pandas dtypes GX accepts for it, and how to find text values
    that are not of this kind (ingest leaves a numeric column as text when some value does not parse)."""

    singular: str
    plural: str
    gx_types: tuple[str, ...]
    parse_as: pl.DataType | None = None


# Masked pandas dtypes (a column with nulls) and plain numpy ones (no nulls; see `to_pandas`).
_INTEGER_DTYPES = tuple(
    name for sign in ("", "U") for bits in (8, 16, 32, 64) for name in (f"{sign}Int{bits}Dtype", f"{sign.lower()}int{bits}")
)
_FLOAT_DTYPES = ("Float32Dtype", "Float64Dtype", "float32", "float64")
TEXT = Kind("text value", "text", ("StringDtype",))
INTEGER = Kind("integer", "integers", _INTEGER_DTYPES, pl.Int64())
NUMBER = Kind("number", "numbers", (*_INTEGER_DTYPES, *_FLOAT_DTYPES), pl.Float64())


@dataclass(frozen=True)
class ColumnRule:
    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True)
class ContentCheck:
    """An expectation about values, run only when every column it reads passed the structure pass."""

    expectation: Expectation
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnRule, ...]
    content: tuple[ContentCheck, ...]
    min_rows: int = 0


def table_specs(params: ValidationParams, now: int) -> tuple[TableSpec, ...]:
    """The expectations for every table, from params.yaml `validation` and the current time (epoch s).

    Rating is optional (implicit feedback may come without one) and nullable; ids must be text because
    original ids are kept verbatim; uniqueness is on (user, item, timestamp) because re-rating an item
    at another time is legitimate.
    """
    expect = gx.expectations
    interactions_content = [
        *(ContentCheck(expect.ExpectColumnValuesToNotBeNull(column=c), (c,)) for c in (USER, ITEM, TIMESTAMP)),
        ContentCheck(
            expect.ExpectCompoundColumnsToBeUnique(
                column_list=[USER, ITEM, TIMESTAMP], mostly=1.0 - params.max_duplicate_fraction
            ),
            (USER, ITEM, TIMESTAMP),
        ),
        ContentCheck(
            expect.ExpectColumnValuesToBeBetween(
                column=TIMESTAMP, min_value=params.earliest_timestamp, max_value=now + FUTURE_TOLERANCE_S
            ),
            (TIMESTAMP,),
        ),
    ]
    if params.rating_min is not None or params.rating_max is not None:
        interactions_content.append(
            ContentCheck(
                expect.ExpectColumnValuesToBeBetween(
                    column=RATING, min_value=params.rating_min, max_value=params.rating_max
                ),
                (RATING,),
            )
        )
    return (
        TableSpec(
            name="interactions",
            columns=(
                ColumnRule(USER, TEXT),
                ColumnRule(ITEM, TEXT),
                ColumnRule(RATING, NUMBER, required=False),
                ColumnRule(TIMESTAMP, INTEGER),
            ),
            content=tuple(interactions_content),
            min_rows=params.min_rows,
        ),
        _id_table_spec("items", ITEM),
        _id_table_spec("users", USER),
    )


def _id_table_spec(table: str, id_column: str) -> TableSpec:
    """Side tables only need a usable key: present, text, never null, one row per id."""
    expect = gx.expectations
    return TableSpec(
        name=table,
        columns=(ColumnRule(id_column, TEXT),),
        content=(
            ContentCheck(expect.ExpectColumnValuesToNotBeNull(column=id_column), (id_column,)),
            ContentCheck(expect.ExpectColumnValuesToBeUnique(column=id_column), (id_column,)),
        ),
    )


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One expectation on one table. `success` is None when it was not evaluated because a column it
    reads failed the structure pass; `rows` are 0-based positions in the ingested table."""

    table: str
    expectation: str
    column: str | None
    success: bool | None
    observed: Any = None
    unexpected_count: int | None = None
    examples: tuple[Any, ...] = ()
    rows: tuple[int, ...] = ()
    kwargs: dict[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    outcomes: tuple[Outcome, ...]
    table_rows: dict[str, int]
    checked_at: int

    @property
    def success(self) -> bool:
        return all(outcome.success is not False for outcome in self.outcomes)

    @property
    def failures(self) -> tuple[Outcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.success is False)

    @property
    def failure_messages(self) -> list[str]:
        return [outcome.message or outcome.expectation for outcome in self.failures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports/validation/result.json."""
        return {
            "success": self.success,
            "checked_at": datetime.fromtimestamp(self.checked_at, tz=UTC).isoformat(),
            "table_rows": self.table_rows,
            "failures": self.failure_messages,
            "expectations": [asdict(outcome) for outcome in self.outcomes],
        }


# --- running the suites -------------------------------------------------------------------------


def validate_tables(
    params: ValidationParams,
    *,
    interactions: pl.DataFrame | None,
    items: pl.DataFrame | None,
    users: pl.DataFrame | None,
    docs_dir: Path | None = None,
    now: int | None = None,
) -> ValidationReport:
    """Validate the three ingested tables with GX; a table passed as None is reported as missing.

    With `docs_dir`, GX Data Docs (index.html) are rebuilt there from scratch, so they never show
    results of an earlier run. GX itself keeps no state on disk: the context lives in memory.
    """
    now = int(time.time()) if now is None else now
    frames = {"interactions": interactions, "items": items, "users": users}
    context = _ephemeral_context(docs_dir)
    source = context.data_sources.add_pandas("ingested")
    outcomes: list[Outcome] = []
    for spec in table_specs(params, now):
        frame = frames[spec.name]
        if frame is None:
            outcomes.append(_missing_table(spec.name))
            continue
        batch = source.add_dataframe_asset(spec.name).add_batch_definition_whole_dataframe("whole table")
        outcomes.extend(_validate_table(context, batch, spec, frame))
    if docs_dir is not None:
        shutil.rmtree(docs_dir, ignore_errors=True)
        context.build_data_docs()
    rows = {name: frame.height for name, frame in frames.items() if frame is not None}
    return ValidationReport(outcomes=tuple(outcomes), table_rows=rows, checked_at=now)


def _ephemeral_context(docs_dir: Path | None) -> EphemeralDataContext:
    """An in-memory GX context: no gx/ folder in the repository, no analytics, no progress bars."""
    sites = {}
    if docs_dir is not None:
        sites["local_site"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate_table(
    context: EphemeralDataContext, batch: Any, spec: TableSpec, frame: pl.DataFrame
) -> list[Outcome]:
    data = to_pandas(frame)
    kinds = {rule.name: rule.kind for rule in spec.columns}
    structure = _run_suite(context, batch, f"{spec.name}.structure", _structure_expectations(spec, frame), data)
    outcomes = [_outcome(spec.name, result, frame, kinds) for result in structure]
    broken = {outcome.column for outcome in outcomes if outcome.success is False}
    present = set(frame.columns)
    runnable, skipped = [], []
    for check in spec.content:
        if any(column in broken for column in check.columns):
            skipped.append(_skipped(spec.name, check, broken))
        elif all(column in present for column in check.columns):  # an absent optional column is fine
            runnable.append(check.expectation)
    content = _run_suite(context, batch, f"{spec.name}.content", runnable, data)
    return outcomes + [_outcome(spec.name, result, frame, kinds) for result in content] + skipped


def _structure_expectations(spec: TableSpec, frame: pl.DataFrame) -> list[Expectation]:
    """Existence of required columns, the type of every column that is there, and the row count.
    A type is only checked where the column exists: its absence is already the one thing to report."""
    expect = gx.expectations
    expectations: list[Expectation] = []
    if spec.min_rows > 0:
        expectations.append(expect.ExpectTableRowCountToBeBetween(min_value=spec.min_rows))
    for rule in spec.columns:
        if rule.required:
            expectations.append(expect.ExpectColumnToExist(column=rule.name))
        if rule.name in frame.columns:
            expectations.append(
                expect.ExpectColumnValuesToBeInTypeList(column=rule.name, type_list=list(rule.kind.gx_types))
            )
    return expectations


def _run_suite(
    context: EphemeralDataContext, batch: Any, name: str, expectations: list[Expectation], data: pd.DataFrame
) -> list[ExpectationValidationResult]:
    if not expectations:
        return []
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return list(definition.run(batch_parameters={"dataframe": data}, result_format=RESULT_FORMAT).results)


_NULLABLE_PANDAS_DTYPES: dict[pa.DataType, Any] = {
    **{getattr(pa, f"{sign}int{bits}")(): pd.api.types.pandas_dtype(f"{sign.upper()}Int{bits}")
       for sign in ("", "u") for bits in (8, 16, 32, 64)},
    pa.float32(): pd.Float32Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.string_view(): pd.StringDtype(),
}


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """Polars to pandas so that GX judges types correctly and runs fast.

    An integer column holding nulls gets a masked (nullable) dtype: plain pandas would turn it into
    float64 and fail the type check for the wrong reason. Integer columns without nulls and float columns
    (null -> NaN, which GX counts as null) stay plain numpy, because GX compares numpy columns against
    bounds in one vectorised step but masked ones value by value in Python (minutes at 20M rows). Every
    string column gets the one dtype, StringDtype, that the type expectations name.
    """
    columns = {}
    for series in frame.get_columns():
        plain = series.dtype.is_float() or (series.dtype.is_integer() and series.null_count() == 0)
        columns[series.name] = series.to_pandas(types_mapper=None if plain else _NULLABLE_PANDAS_DTYPES.get)
    return pd.DataFrame(columns, index=pd.RangeIndex(frame.height))


# --- turning GX results into sentences ----------------------------------------------------------


def _missing_table(table: str) -> Outcome:
    return Outcome(
        table=table,
        expectation="table_exists",
        column=None,
        success=False,
        message=f"{table}: table is missing; the ingest stage must write it",
    )


def _skipped(table: str, check: ContentCheck, broken: set[str | None]) -> Outcome:
    config = check.expectation.configuration
    causes = ", ".join(f"'{column}'" for column in check.columns if column in broken)
    return Outcome(
        table=table,
        expectation=config.type,
        column=", ".join(check.columns),
        success=None,
        kwargs=_plain(dict(config.kwargs)),
        message=f"{table}: {config.type} not checked because column {causes} failed the structure checks",
    )


def _outcome(
    table: str, result: ExpectationValidationResult, frame: pl.DataFrame, kinds: dict[str, Kind]
) -> Outcome:
    config = result.expectation_config
    kwargs = _plain({key: value for key, value in config.kwargs.items() if key != "batch_id"})
    details = result.result or {}
    column = kwargs.get("column") or (", ".join(kwargs["column_list"]) if "column_list" in kwargs else None)
    outcome = Outcome(
        table=table,
        expectation=config.type,
        column=column,
        success=bool(result.success),
        observed=_plain(details.get("observed_value")),
        unexpected_count=details.get("unexpected_count"),
        examples=_distinct(_example(value) for value in details.get("partial_unexpected_list", [])),
        rows=tuple(int(row) for row in details.get("partial_unexpected_index_list", []) or []),
        kwargs=kwargs,
    )
    if outcome.success:
        return outcome
    if result.exception_info.get("raised_exception"):
        reason = result.exception_info.get("exception_message")
        return replace(outcome, message=f"{_where(outcome)}: GX could not evaluate {config.type}: {reason}")
    if config.type == "expect_column_values_to_be_in_type_list":
        return _type_failure(outcome, frame, kinds[outcome.column])
    explain = _EXPLAIN.get(config.type, _explain_generic)
    return replace(outcome, message=explain(outcome))


def _type_failure(outcome: Outcome, frame: pl.DataFrame, kind: Kind) -> Outcome:
    """A numeric column left as text by ingest: name the values that do not parse, not just the dtype."""
    where = _where(outcome)
    if kind.parse_as is None or frame.schema[outcome.column] != pl.String:
        return replace(outcome, message=f"{where}: column has type {outcome.observed}, expected {kind.plural}")
    values = pl.col(outcome.column)
    bad = frame.with_row_index("row").filter(
        values.is_not_null() & values.str.strip_chars().cast(kind.parse_as, strict=False).is_null()
    )
    if bad.height == 0:
        return replace(outcome, message=f"{where}: {kind.plural} are stored as text; ingest should have parsed them")
    outcome = replace(
        outcome,
        unexpected_count=bad.height,
        examples=tuple(bad[outcome.column].unique(maintain_order=True).head(MAX_EXAMPLES).to_list()),
        rows=tuple(bad["row"].head(MAX_EXAMPLES).to_list()),
    )
    verb = "is not a" if bad.height == 1 else "are not"
    noun = kind.singular if bad.height == 1 else kind.plural
    return replace(outcome, message=f"{where}: {_count(bad.height, 'value')} {verb} {noun}{_evidence(outcome)}")


def _explain_row_count(outcome: Outcome) -> str:
    minimum = (outcome.kwargs or {}).get("min_value")
    if outcome.observed == 0:
        return f"{outcome.table}: table is empty, expected at least {minimum} rows (validation.min_rows)"
    return f"{outcome.table}: {_count(outcome.observed, 'row')}, expected at least {minimum} (validation.min_rows)"


def _explain_range(outcome: Outcome) -> str:
    kwargs = outcome.kwargs or {}
    low, high = (_number(kwargs.get(side)) for side in ("min_value", "max_value"))
    if outcome.column == TIMESTAMP:
        low, high = (None if b is None else f"{b} ({_date(b)})" for b in (low, high))
    bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    count = _count(outcome.unexpected_count or 0, "value")
    message = f"{_where(outcome)}: {count} outside {bounds}{_evidence(outcome)}"
    huge = any(isinstance(value, int | float) and value >= MILLISECONDS_HINT for value in outcome.examples)
    if outcome.column == TIMESTAMP and huge:
        return message + ("; these look like milliseconds, store seconds since the epoch "
                          "(a `table` source can declare data.table.timestamp_unit: ms)")
    return message + _RANGE_SOURCE.get(outcome.column or "", "")


_RANGE_SOURCE = {
    RATING: "; bounds from validation.rating_min/rating_max",
    TIMESTAMP: "; bounds from validation.earliest_timestamp and now + 1 day",
}


def _explain_generic(outcome: Outcome) -> str:
    return f"{_where(outcome)}: {outcome.expectation} failed (observed {outcome.observed}){_evidence(outcome)}"


_EXPLAIN: dict[str, Callable[[Outcome], str]] = {
    "expect_column_to_exist": lambda o: f"{o.table}: required column '{o.column}' is missing",
    "expect_table_row_count_to_be_between": _explain_row_count,
    "expect_column_values_to_not_be_null": lambda o: (
        f"{_where(o)}: {_count(o.unexpected_count or 0, 'null value')}{_evidence(o, with_values=False)}"
    ),
    "expect_column_values_to_be_unique": lambda o: (
        f"{_where(o)}: {_count(o.unexpected_count or 0, 'row')} share a value with another row{_evidence(o)}"
    ),
    "expect_compound_columns_to_be_unique": lambda o: (
        f"{o.table}: {_count(o.unexpected_count or 0, 'row')} repeat the same ({o.column}){_evidence(o)}; "
        "remove the repeats, or tolerate them with validation.max_duplicate_fraction and resolve them with "
        "data.duplicates"
    ),
    "expect_column_values_to_be_between": _explain_range,
}


def _where(outcome: Outcome) -> str:
    single_column = outcome.column is not None and ", " not in outcome.column
    return f"{outcome.table}.{outcome.column}" if single_column else outcome.table


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _evidence(outcome: Outcome, *, with_values: bool = True) -> str:
    """', e.g. 'abc', 'x' (rows 17, 42)': a few bad values and where they are."""
    text = ""
    if with_values and outcome.examples:
        text += ", e.g. " + ", ".join(repr(value) for value in outcome.examples)
    if outcome.rows:
        label = "row" if len(outcome.rows) == 1 else "rows"
        text += f" ({label} {', '.join(str(row) for row in outcome.rows)})"
    return text


def _number(value: Any) -> Any:
    """GX stores bounds as floats; 788918400.0 reads better as 788918400."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _date(epoch_seconds: int | float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).date().isoformat()


def _example(value: Any) -> Any:
    """A bad value as the user would write it; a row of a compound key becomes a tuple."""
    value = _plain(value)
    return tuple(value.values()) if isinstance(value, dict) else value


def _distinct(values: Iterable[Any]) -> tuple[Any, ...]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(repr(value), value)
    return tuple(seen.values())


def _plain(value: Any) -> Any:
    """GX results hold numpy scalars, NaN/NA and row dicts; make them JSON- and repr-friendly."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value
