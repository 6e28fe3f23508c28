"""Batch recommendations (`recsys recommend`): a file of requests in, a Parquet file of answers out,
through the same pyfunc the scoring server loads, so batch and online answers cannot disagree."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import polars as pl

from pipeline.registry.requests import MAX_ROWS, SIGNATURE, K

READERS = {".parquet": pl.read_parquet, ".csv": pl.read_csv, ".jsonl": pl.read_ndjson, ".ndjson": pl.read_ndjson}


def read_requests(path: Path) -> pd.DataFrame:
    """Request rows (the request columns of requests.py) from CSV (scalar columns only: `user_id`, `k`),
    Parquet or JSON Lines; ids are read as strings whatever they look like."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type '{path.suffix}'; use one of {sorted(READERS)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    frame = reader(path, schema_overrides={"user_id": pl.String}) if reader is pl.read_csv else reader(path)
    allowed = SIGNATURE.inputs.input_names()
    unexpected = sorted(set(frame.columns) - set(allowed))
    if unexpected:  # the scoring server would drop them silently; a file with a typo deserves an error
        raise ValueError(f"{path}: unknown column(s) {unexpected}; request columns are {allowed}")
    return frame.to_pandas()


def whole_numbers(values: pd.Series, field: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or (numbers % 1 != 0).any():
        raise ValueError(f"{field} must hold whole numbers")
    return numbers.astype("int64")


def recommend_file(model_uri: str, requests_file: Path, out_file: Path, k: int) -> int:
    """Answer every request of `requests_file` with the model at `model_uri`; write the answers (one
    row per request, in order) to `out_file` as Parquet; return the number of rows written."""
    if out_file.suffix.lower() != ".parquet":
        raise ValueError(f"--out {out_file}: the answers are written as Parquet; name the file *.parquet")
    requests = read_requests(requests_file)
    if K in requests.columns:  # rows without their own `k` get the command's
        requests[K] = whole_numbers(requests[K].fillna(k), f"{requests_file}: column '{K}'")
    model = mlflow.pyfunc.load_model(model_uri)
    chunks = [model.predict(requests.iloc[start : start + MAX_ROWS], params={K: k})
              for start in range(0, len(requests), MAX_ROWS)]
    answers = pl.from_pandas(pd.concat(chunks, ignore_index=True)) if chunks else pl.DataFrame()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    answers.write_parquet(out_file)
    return len(answers)
