"""Real GX validations on small MovieLens-like tables: the clean tables pass, and every defect that ingest
lets through on purpose is named by exactly one sentence (the root cause, not a cascade)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.config import ValidationParams
from pipeline.data.validation import ValidationReport, to_pandas, validate_tables
from pipeline.stages import validate as stage

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000  # 2023-11-14: fixed, so "in the future" does not depend on the test machine's clock
PARAMS = ValidationParams(min_rows=10, rating_min=0.5, rating_max=5.0, earliest_timestamp=946_684_800)
N_ROWS = 50


def interactions(n: int = N_ROWS) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [f"u{i % 5}" for i in range(n)],
            "item_id": [f"tt{i % 11:07d}" for i in range(n)],
            "rating": [0.5 + (i % 10) * 0.5 for i in range(n)],
            "timestamp": [978_300_760 + 3_600 * i for i in range(n)],
        }
    )


def items() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [f"tt{i:07d}" for i in range(11)],
            "title": [f"Movie {i}" for i in range(11)],
            "genres": [["Drama", "Comedy"][: 1 + i % 2] for i in range(11)],
        }
    )


def users() -> pl.DataFrame:
    return pl.DataFrame({"user_id": [f"u{i}" for i in range(5)], "gender": ["F", "M", "F", "M", None]})


def validate(**tables: pl.DataFrame | None) -> ValidationReport:
    frames = {"interactions": interactions(), "items": items(), "users": users()} | tables
    return validate_tables(PARAMS, now=NOW, **frames)


def only_failure(report: ValidationReport) -> str:
    assert not report.success
    assert len(report.failure_messages) == 1, report.failure_messages
    return report.failure_messages[0]


def set_values(column: str, values: dict[int, object], dtype: pl.DataType | None = None) -> pl.DataFrame:
    """Interactions with `values` (row -> value) written into `column`, optionally after a cast."""
    frame = interactions()
    series = frame[column].cast(dtype) if dtype is not None else frame[column]
    replaced = [values.get(row, value) for row, value in enumerate(series.to_list())]
    return frame.with_columns(pl.Series(column, replaced, dtype=series.dtype))


def test_clean_tables_pass_every_expectation() -> None:
    report = validate()
    assert report.success, report.failure_messages
    assert report.failure_messages == []
    assert all(outcome.success for outcome in report.outcomes)
    assert report.table_rows == {"interactions": N_ROWS, "items": 11, "users": 5}
    checked = {(o.table, o.expectation, o.column) for o in report.outcomes}
    assert ("interactions", "expect_compound_columns_to_be_unique", "user_id, item_id, timestamp") in checked
    assert ("interactions", "expect_column_values_to_be_between", "rating") in checked
    assert ("items", "expect_column_values_to_be_unique", "item_id") in checked


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(interactions().with_columns(pl.lit(None, pl.Float64).alias("rating")), id="null-ratings"),
        pytest.param(interactions().drop("rating"), id="no-rating-column"),
        pytest.param(interactions().with_columns(pl.lit(None).alias("rating")), id="null-typed-ratings"),
        pytest.param(interactions().with_columns(pl.col("rating").ceil().cast(pl.Int64)), id="integer-ratings"),
    ],
)
def test_implicit_or_integer_feedback_passes(frame: pl.DataFrame) -> None:
    report = validate(interactions=frame)
    assert report.success, report.failure_messages


DEFECTS: list[tuple[str, Callable[[], pl.DataFrame], str]] = [
    (
        "missing-column",
        lambda: interactions().drop("timestamp"),
        "interactions: required column 'timestamp' is missing",
    ),
    (
        "non-numeric-rating",
        lambda: set_values("rating", {17: "abc", 42: "x"}, pl.String),
        "interactions.rating: 2 values are not numbers, e.g. 'abc', 'x' (rows 17, 42)",
    ),
    (
        "null-user-id",
        lambda: set_values("user_id", {5: None}),
        "interactions.user_id: 1 null value (row 5)",
    ),
    (
        "null-timestamp-is-a-null-not-a-type-error",
        lambda: set_values("timestamp", {2: None}),
        "interactions.timestamp: 1 null value (row 2)",
    ),
    (
        "duplicate-interactions",
        lambda: pl.concat([interactions(), interactions().slice(3, 1)]),
        "interactions: 2 rows repeat the same (user_id, item_id, timestamp), "
        "e.g. ('u3', 'tt0000003', 978311560) (rows 3, 50); remove the repeats, or tolerate them with "
        "validation.max_duplicate_fraction and resolve them with data.duplicates",
    ),
    (
        "rating-out-of-range",
        lambda: set_values("rating", {3: 7.0, 8: -1.0}),
        "interactions.rating: 2 values outside [0.5, 5], e.g. 7.0, -1.0 (rows 3, 8); "
        "bounds from validation.rating_min/rating_max",
    ),
    (
        "ids-are-numbers",
        lambda: interactions().with_columns(pl.col("user_id").str.slice(1).cast(pl.Int64)),
        "interactions.user_id: column has type int64, expected text",
    ),
    (
        "empty-table",
        lambda: interactions().head(0),
        "interactions: table is empty, expected at least 10 rows (validation.min_rows)",
    ),
    (
        "too-few-rows",
        lambda: interactions().head(4),
        "interactions: 4 rows, expected at least 10 (validation.min_rows)",
    ),
]


@pytest.mark.parametrize(("frame", "message"), [pytest.param(f, m, id=i) for i, f, m in DEFECTS])
def test_each_defect_is_named_once(frame: Callable[[], pl.DataFrame], message: str) -> None:
    assert only_failure(validate(interactions=frame())) == message


def test_timestamps_in_milliseconds_are_in_the_future_and_say_so() -> None:
    frame = interactions().with_columns(pl.col("timestamp") * 1000)
    message = only_failure(validate(interactions=frame))
    assert message.startswith(f"interactions.timestamp: {N_ROWS} values outside [946684800 (2000-01-01), ")
    assert "e.g. 978300760000, 978304360000, 978307960000 (rows 0, 1, 2)" in message
    assert message.endswith("these look like milliseconds, store seconds since the epoch "
                            "(a `table` source can declare data.table.timestamp_unit: ms)")


def test_timestamps_before_the_earliest_plausible_date_fail() -> None:
    message = only_failure(validate(interactions=set_values("timestamp", {9: 0})))
    assert message.startswith("interactions.timestamp: 1 value outside [946684800 (2000-01-01), ")
    assert message.endswith("e.g. 0 (row 9); bounds from validation.earliest_timestamp and now + 1 day")


def test_open_rating_bound_for_play_counts() -> None:
    plays = interactions().with_columns((pl.col("rating") * 100).alias("rating"))
    params = PARAMS.model_copy(update={"rating_min": 0.0, "rating_max": None})
    assert validate_tables(params, now=NOW, interactions=plays, items=items(), users=users()).success
    negative = set_values("rating", {4: -3.0})
    report = validate_tables(params, now=NOW, interactions=negative, items=items(), users=users())
    assert only_failure(report).startswith("interactions.rating: 1 value outside [0, inf], e.g. -3.0 (row 4)")


def test_missing_column_skips_what_depends_on_it_without_gx_exceptions() -> None:
    report = validate(interactions=interactions().drop("timestamp"))
    skipped = [o for o in report.outcomes if o.success is None]
    assert {o.expectation for o in skipped} == {
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_between",
    }
    assert all("'timestamp'" in (o.message or "") for o in skipped)
    # Checks that do not read the missing column still run.
    assert any(o.expectation == "expect_column_values_to_be_between" and o.column == "rating" and o.success
               for o in report.outcomes)


def test_several_defects_are_all_reported() -> None:
    frame = set_values("rating", {1: 9.5}).with_columns(pl.col("timestamp") * 1000)
    report = validate(interactions=frame, users=users().drop("user_id"))
    assert [m.split(":")[0] for m in report.failure_messages] == [
        "interactions.timestamp",
        "interactions.rating",
        "users",
    ]


def test_duplicates_within_the_tolerated_fraction_pass() -> None:
    repeated = pl.concat([interactions(), interactions().slice(3, 1)])  # 2 of 51 rows share a key
    tolerant = PARAMS.model_copy(update={"max_duplicate_fraction": 0.05})
    assert validate_tables(tolerant, now=NOW, interactions=repeated, items=items(), users=users()).success
    strict = PARAMS.model_copy(update={"max_duplicate_fraction": 0.01})
    assert "repeat the same" in only_failure(
        validate_tables(strict, now=NOW, interactions=repeated, items=items(), users=users()))


def test_numeric_columns_reach_gx_as_numpy_unless_an_integer_column_has_nulls() -> None:
    """GX checks ranges of numpy columns vectorised and of masked ones value by value (minutes at 20M)."""
    frame = interactions().with_columns(pl.when(pl.int_range(N_ROWS) == 0).then(None).otherwise("rating").alias("rating"))
    dtypes = to_pandas(frame).dtypes.astype(str).to_dict()
    assert dtypes == {"user_id": "string", "item_id": "string", "rating": "float64", "timestamp": "int64"}
    assert str(to_pandas(set_values("timestamp", {2: None})).dtypes["timestamp"]) == "Int64"


def test_duplicate_item_ids_fail_the_items_table() -> None:
    duplicated = pl.concat([items(), items().slice(3, 1)])
    assert only_failure(validate(items=duplicated)) == (
        "items.item_id: 2 rows share a value with another row, e.g. 'tt0000003' (rows 3, 11)"
    )


def test_null_and_missing_ids_in_side_tables() -> None:
    null_user = users().with_columns(pl.when(pl.int_range(5) == 1).then(None).otherwise("user_id").alias("user_id"))
    assert only_failure(validate(users=null_user)) == "users.user_id: 1 null value (row 1)"
    assert only_failure(validate(items=items().drop("item_id"))) == "items: required column 'item_id' is missing"
    assert only_failure(validate(users=None)) == "users: table is missing; the ingest stage must write it"


# --- the CLI, end to end ------------------------------------------------------------------------


def write_project(root: Path, interactions_frame: pl.DataFrame) -> None:
    validation = {"min_rows": 10, "rating_min": 0.5, "rating_max": 5.0, "earliest_timestamp": 946_684_800}
    (root / "params.yaml").write_text(yaml.safe_dump({"validation": validation}), encoding="utf-8")
    processed = root / "data" / "processed"
    processed.mkdir(parents=True)
    interactions_frame.write_parquet(processed / "interactions.parquet")
    items().write_parquet(processed / "items.parquet")
    users().write_parquet(processed / "users.parquet")


def test_cli_passes_and_writes_result_and_data_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, interactions())
    assert stage.main() == 0
    out, err = capsys.readouterr()
    assert out.startswith("Data validation passed: ") and "interactions (50 rows)" in out
    assert err == ""
    result = json.loads((tmp_path / "reports/validation/result.json").read_text())
    assert result["success"] is True and result["failures"] == []
    assert (tmp_path / "reports/validation/docs/index.html").is_file()
    # GX keeps its state in memory: nothing but our inputs and reports appears in the project.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "params.yaml", "reports"]


def test_cli_fails_with_exit_status_1_and_names_the_problem(tmp_path: Path) -> None:
    write_project(tmp_path, set_values("rating", {17: "abc", 42: "x"}, pl.String))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.validate"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr.startswith("Data validation failed: 1 of ")
    assert "  - interactions.rating: 2 values are not numbers, e.g. 'abc', 'x' (rows 17, 42)\n" in completed.stderr
    assert completed.stdout == ""
    result = json.loads((tmp_path / "reports/validation/result.json").read_text())
    assert result["success"] is False
    (rating_type,) = [e for e in result["expectations"] if e["column"] == "rating" and e["success"] is False]
    assert rating_type["table"] == "interactions"
    assert rating_type["expectation"] == "expect_column_values_to_be_in_type_list"
    assert rating_type["observed"] == "str"
    assert rating_type["examples"] == ["abc", "x"] and rating_type["rows"] == [17, 42]
    assert (tmp_path / "reports/validation/docs/index.html").is_file()
