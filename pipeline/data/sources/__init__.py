"""Readers that turn a dataset in its original layout into the canonical tables (pipeline.data.schema).

Readers are lenient by design: they rename and type what they can and leave the judging to the
validation stage, so a bad file is reported with every problem at once instead of a parser traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.data.sources.movietweetings import read_movietweetings
from pipeline.data.sources.tables import SourceTables

Reader = Callable[[Path], SourceTables]

SOURCES: dict[str, Reader] = {
    "movietweetings": read_movietweetings,
}


def read_source(source: str, path: Path) -> SourceTables:
    try:
        reader = SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown data.source '{source}'; known sources: {', '.join(sorted(SOURCES))}") from None
    if not path.exists():
        raise FileNotFoundError(f"data.path '{path}' does not exist (for the bundled data run `dvc pull`)")
    return reader(path)
