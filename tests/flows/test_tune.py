"""The tuning flow under a temporary Prefect server: one task per model on a tiny real project, the results
table and per-model progress as artifacts, and the better settings written to the project's params.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from prefect.artifacts import Artifact

from flows.tune import RESULTS_ARTIFACT, progress_key, tune
from tests.tuning.project import make_project


def test_the_flow_tunes_each_model_as_a_task_and_publishes_the_results(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    rows = tune(models=["popularity", "ease"], trials=4, project_dir=str(tmp_path))
    assert [(row["model"], row["trials"]) for row in rows] == [("popularity", 1), ("ease", 4)]
    ease = rows[1]
    assert ease["best valid ndcg@10"] > ease["default valid ndcg@10"], "l2=500 is too strong for this tiny data"
    assert ease["written to"] == "params.yaml"
    assert yaml.safe_load(project.params_file.read_text())["models"]["ease"] == json.loads(ease["best settings"])
    table = Artifact.get(RESULTS_ARTIFACT)
    assert table is not None and [row["model"] for row in json.loads(table.data)] == ["popularity", "ease"]
    progress = Artifact.get(progress_key("ease"))
    assert progress is not None and progress.type == "progress" and float(progress.data) == 100.0
    assert MlflowClient(project.tracking_uri).get_run(ease["mlflow run"]).data.tags["model"] == "ease"
