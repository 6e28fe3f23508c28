"""Fixtures for the tuning tests: a fresh tiny project per test, working directory and MLflow store set as
`recsys tune` finds them in a repository root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.tuning.project import TuningProject, make_project


@pytest.fixture(scope="session")
def empty_tuning_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking database with its tables created once: creating them takes seconds, copying the file does not."""
    database = tmp_path_factory.mktemp("tuning-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{database}").search_experiments()
    return database


@pytest.fixture
def project(tmp_path: Path, empty_tuning_store: Path, monkeypatch: pytest.MonkeyPatch) -> TuningProject:
    project = make_project(tmp_path)
    shutil.copyfile(empty_tuning_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    return project
