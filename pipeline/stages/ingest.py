"""Stage `ingest`: raw data in its original layout -> canonical Parquet tables in data/processed/."""

from __future__ import annotations

import logging

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.sources import read_source
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)


def main() -> None:
    params = load_params()
    tables = read_source(params.data.source, params.data.path)
    paths.PROCESSED_DIR.mkdir(parents=True, exist_ok=True)
    tables.interactions.write_parquet(paths.INTERACTIONS_FILE)
    tables.items.write_parquet(paths.ITEMS_FILE)
    tables.users.write_parquet(paths.USERS_FILE)
    log.info(
        "%s: %d interactions, %d items, %d users -> %s",
        params.data.source, tables.interactions.height, tables.items.height, tables.users.height, paths.PROCESSED_DIR,
    )


if __name__ == "__main__":
    run_stage("ingest", main)
