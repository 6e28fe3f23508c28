"""Stage `split`: k-core filtering of the validated data, then the warm per-user temporal split."""

from __future__ import annotations

import json
import logging

import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.filtering import kcore
from pipeline.data.schema import ITEM, USER
from pipeline.data.splitting import temporal_split
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)


def describe(frame: pl.DataFrame) -> dict[str, int]:
    return {"interactions": frame.height, "users": frame[USER].n_unique(), "items": frame[ITEM].n_unique()}


def main() -> None:
    params = load_params()
    interactions = kcore(pl.read_parquet(paths.INTERACTIONS_FILE), params.data.kcore)
    if interactions.is_empty():
        raise ValueError(f"no interactions left after the {params.data.kcore}-core filter; lower data.kcore")
    parts = temporal_split(interactions, params.split.valid_fraction, params.split.test_fraction)
    directory = paths.split_dir("warm")
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in parts.items():
        frame.write_parquet(directory / f"{name}.parquet")
    stats = {"filtered": describe(interactions), "warm": {name: describe(frame) for name, frame in parts.items()}}
    paths.REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    (paths.REPORTS_DIR / "dataset.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    log.info("after %d-core: %s", params.data.kcore, stats["filtered"])


if __name__ == "__main__":
    run_stage("split", main)
