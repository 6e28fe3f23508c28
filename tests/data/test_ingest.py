"""The ingest stage: every table written, atomically, and a synthetic dataset through the real gate and split."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.data.sources.tables import SourceScans
from pipeline.stages import ingest, split, validate
from tests.data import layouts


def project(root: Path, data: dict, validation: dict | None = None) -> Path:
    (root / "params.yaml").write_text(yaml.safe_dump({"data": data, "validation": validation or {}}), encoding="utf-8")
    return root


def test_amazon_ingest_writes_reviews_beside_the_three_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layouts.write_amazon_2018(tmp_path / "data" / "raw")
    monkeypatch.chdir(project(tmp_path, {"source": "amazon"}))
    ingest.main()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["processed", "raw"], "no staging left behind"
    written = {p.name: pl.read_parquet(p).height for p in (tmp_path / "data" / "processed").iterdir()}
    assert written == {"interactions.parquet": 3, "items.parquet": 2, "users.parquet": 0, "reviews.parquet": 3}


def test_a_failure_while_writing_leaves_the_previous_tables_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layouts.write_movielens_1m(tmp_path / "data" / "raw")
    monkeypatch.chdir(project(tmp_path, {"source": "movielens"}))
    ingest.main()
    before = {p.name: p.read_bytes() for p in (tmp_path / "data" / "processed").iterdir()}

    def write_one_then_fail(self: SourceScans, directory: Path) -> dict[str, int]:
        self.interactions.head(1).sink_parquet(directory / "interactions.parquet")
        raise OSError("disk full")

    monkeypatch.setattr(SourceScans, "write", write_one_then_fail)
    with pytest.raises(OSError, match="disk full"):
        ingest.main()
    assert {p.name: p.read_bytes() for p in (tmp_path / "data" / "processed").iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["processed", "raw"]


def test_synthetic_source_through_ingest_validate_and_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project(tmp_path, {"source": "synthetic", "synthetic": {"interactions": 30_000, "seed": 1}}))
    ingest.main()
    assert validate.main() == 0
    split.main()
    warm = pl.read_parquet(tmp_path / "data" / "splits" / "warm" / "train.parquet")
    assert warm.height > 15_000 and warm.columns == ["user_id", "item_id", "rating", "timestamp"]
    assert pl.read_parquet(tmp_path / "data" / "processed" / "users.parquet").width == 4
