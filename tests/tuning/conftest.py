"""Fixtures for the tuning tests: a fresh tiny project per test, working directory and MLflow store set as
`recsys tune` finds them in a repository root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tuning.project import TuningProject, make_project


@pytest.fixture
def project(tmp_path: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch) -> TuningProject:
    project = make_project(tmp_path)
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    return project
