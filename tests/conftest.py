"""Shared fixtures: the bundled MovieTweetings data and small realistic slices of it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

REPO_ROOT = Path(__file__).resolve().parents[1]

# Keep third-party tools quiet and offline in tests.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def bundled_file_map() -> dict[str, Path]:
    """relpath -> file in the in-repo DVC remote, read from data.dvc and its .dir manifest."""
    out = yaml.safe_load((REPO_ROOT / "data.dvc").read_text())["outs"][0]
    remote = REPO_ROOT / "data" / "bundled-remote" / "files" / "md5"
    dir_md5 = out["md5"]
    manifest = json.loads((remote / dir_md5[:2] / dir_md5[2:]).read_text())
    return {entry["relpath"]: remote / entry["md5"][:2] / entry["md5"][2:] for entry in manifest}


@pytest.fixture(scope="session")
def movietweetings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled raw MovieTweetings 100K files, as `dvc pull` would place them."""
    target = tmp_path_factory.mktemp("movietweetings")
    for relpath, source in bundled_file_map().items():
        shutil.copyfile(source, target / relpath)
    return target


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking database with its tables created: creating them takes seconds, copying the file does not."""
    database = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{database}").search_experiments()
    return database
