"""`python -m pipeline.stages.validate`: the gate between ingest and split.

It always writes reports/validation/result.json and the GX Data Docs, pass or fail, so a failed run can be
inspected; on failure it exits with status 1, which stops `dvc repro` (and the Prefect flow) before any
model trains on bad data. Only a pass writes reports/validation/gate.json, the file `split` depends on: it
holds nothing time-dependent, so re-validating unchanged data does not retrain every model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

from pipeline.config import load_params
from pipeline.data.validation import ValidationReport, validate_tables
from pipeline.paths import INTERACTIONS_FILE, ITEMS_FILE, USERS_FILE, VALIDATION_DIR, VALIDATION_GATE
from pipeline.stages.cli import run_stage

RESULT_FILE = VALIDATION_DIR / "result.json"
DOCS_DIR = VALIDATION_DIR / "docs"


def main() -> int:
    params = load_params().validation
    report = validate_tables(
        params,
        interactions=_read(INTERACTIONS_FILE),
        items=_read(ITEMS_FILE),
        users=_read(USERS_FILE),
        docs_dir=DOCS_DIR,
    )
    RESULT_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    VALIDATION_GATE.unlink(missing_ok=True)
    if not report.success:
        print(failure_text(report), file=sys.stderr)
        return 1
    gate = {"passed": True, "expectations": len(report.outcomes), "rows": report.table_rows}
    VALIDATION_GATE.write_text(json.dumps(gate, indent=2) + "\n", encoding="utf-8")
    print(success_text(report))
    return 0


def _read(path: Path) -> pl.DataFrame | None:
    """None for an absent file, so that validation reports it like any other failure."""
    return pl.read_parquet(path) if path.exists() else None


def failure_text(report: ValidationReport) -> str:
    lines = [f"Data validation failed: {len(report.failures)} of {len(report.outcomes)} expectations not met"]
    lines += [f"  - {message}" for message in report.failure_messages]
    lines.append(f"Details: {RESULT_FILE} and {DOCS_DIR / 'index.html'}")
    return "\n".join(lines)


def success_text(report: ValidationReport) -> str:
    tables = ", ".join(f"{table} ({rows:,} rows)" for table, rows in report.table_rows.items())
    return f"Data validation passed: {len(report.outcomes)} expectations met on {tables}; Data Docs in {DOCS_DIR}"


if __name__ == "__main__":
    run_stage("validate", main)
