"""Stage `ingest`: raw data in its original layout -> canonical Parquet tables in data/processed/.

With data.download set and data.path absent (or an empty folder) the files are fetched first. The tables
are streamed into a staging folder that replaces data/processed only once every table is written, so a
failing ingest leaves no partial data/processed for a later stage to pick up.
"""

from __future__ import annotations

import logging

import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.sources import scan_source
from pipeline.data.sources.download import fetch, needs_download
from pipeline.data.sources.staging import staged_directory
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)


def main() -> None:
    data = load_params().data
    if data.download and needs_download(data.path):
        fetch(data.download, data.path)
    scans = scan_source(data)
    with staged_directory(paths.PROCESSED_DIR) as staging:
        try:
            rows = scans.write(staging)
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{data.path} could not be read as data.source '{data.source}' ({error}); "
                             "check that the files have the published layout (docs/data.md)") from None
    log.info("%s: %s -> %s", data.source, ", ".join(f"{rows[t]:,} {t}" for t in rows), paths.PROCESSED_DIR)


if __name__ == "__main__":
    run_stage("ingest", main)
