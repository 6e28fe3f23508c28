"""Readers that turn a dataset in its original layout into the canonical tables (pipeline.data.schema).

Readers are lenient by design: they rename and type what they can and leave the judging to the
validation stage, so a bad file is reported with every problem at once instead of a parser traceback.
Every source is described, with its licence and citation, in docs/data.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import DataParams
from pipeline.data.sources.amazon import read_amazon
from pipeline.data.sources.lastfm import read_lastfm
from pipeline.data.sources.movielens import read_movielens
from pipeline.data.sources.movietweetings import read_movietweetings
from pipeline.data.sources.synthetic import read_synthetic
from pipeline.data.sources.table import read_table
from pipeline.data.sources.tables import SourceScans, SourceTables


@dataclass(frozen=True)
class Source:
    read: Callable[[Path, DataParams], SourceScans]
    reads_files: bool = True  # False: generated, data.path is not read


SOURCES: dict[str, Source] = {
    "movietweetings": Source(read_movietweetings),
    "movielens": Source(read_movielens),
    "lastfm": Source(read_lastfm),
    "amazon": Source(read_amazon),
    "table": Source(read_table),
    "synthetic": Source(read_synthetic, reads_files=False),
}


def scan_source(params: DataParams) -> SourceScans:
    """Lazy plans for the processed tables of `params.source` read from `params.path`."""
    try:
        source = SOURCES[params.source]
    except KeyError:
        raise ValueError(
            f"unknown data.source '{params.source}'; known sources: {', '.join(sorted(SOURCES))}"
        ) from None
    if source.reads_files and not params.path.exists():
        raise FileNotFoundError(
            f"data.path '{params.path}' does not exist (for the bundled data run `dvc pull`; "
            "to fetch a published dataset set data.download, docs/data.md)"
        )
    return source.read(params.path, params)


def read_source(source: str, path: Path | str, **options: Any) -> SourceTables:
    """The processed tables in memory, for notebooks and tests; `options` are further data.* params."""
    return scan_source(DataParams(source=source, path=Path(path), **options)).collect()
