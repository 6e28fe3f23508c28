"""The register stage against a real MLflow SQLite store: runs, versions, aliases and promotion.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.registry.tracking import flatten_metrics, metric_key, tracking_uri
from tests.registry.conftest import MODEL_NAME, Project


def test_tracking_uri_defaults_to_sqlite_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking_uri() == "http://mlflow.internal:5000"


def test_metric_names_have_no_at_sign() -> None:
    report = {"model": "ease", "train_seconds": 1.5, "warm": {"test": {"ndcg@10": 0.2, "n_users": 3.0}}}
    expected = {"train_seconds": 1.5, "warm/test/ndcg_at_10": 0.2, "warm/test/n_users": 3.0}
    assert dict(flatten_metrics(report)) == expected
    assert metric_key("warm", "valid", "recall@20") == "warm/valid/recall_at_20"


def test_register_puts_champion_on_the_best_and_challenger_on_the_runner_up(registered: tuple[Project, dict]) -> None:
    project, promotion = registered
    assert project.aliases() == {"champion": "2", "challenger": "1"}  # popularity is v1, ease v2
    assert promotion["tracking_uri"] == project.uri and promotion["registered_model"] == MODEL_NAME
    assert promotion["promoted"] and promotion["previous_champion"] is None
    assert promotion["champion"] == {"version": "2", "model": "ease", "value": 0.3}
    assert promotion["challenger"]["version"] == "1"
    assert promotion["reasons"][0] == (
        "Best of 2 candidate(s) on validation ndcg@10: ease v2 (0.3000); runner-up popularity v1 (0.1000)."
    )
    assert promotion["runs"]["2"]["model_type"] == "ease"


def test_each_model_gets_one_run_with_params_metrics_and_artifacts(registered: tuple[Project, dict]) -> None:
    project, promotion = registered
    client = project.client()
    version = client.get_model_version(MODEL_NAME, "2")
    assert version.tags["promotion_decision"] == "champion" and version.tags["valid_ndcg_at_10"] == "0.300000"
    assert version.run_id == promotion["runs"]["2"]["run_id"]
    run = client.get_run(version.run_id)
    params = run.data.params
    assert params["model_type"] == "ease" and params["l2"] == "10.0" and params["seed"] == "7"
    assert run.data.metrics["warm/valid/ndcg_at_10"] == 0.3 and run.data.metrics["warm/test/recall_at_10"] == 0.35
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/valid_ndcg_at_10")] == [1, 2]
    logged = {a.path for folder in ("training", "evaluation") for a in client.list_artifacts(run.info.run_id, folder)}
    assert logged == {"training/config.json", "training/training.json", "evaluation/ease.json"}


def test_champion_moves_only_on_strict_improvement(project: Project) -> None:
    project.write_metrics(popularity=0.1, ease=0.3)
    assert project.register()["champion"]["version"] == "2"

    project.write_metrics(popularity=0.1, ease=0.3)  # retrained, equally good: nothing moves but the challenger
    equal = project.register()
    assert not equal["promoted"] and equal["previous_champion"]["value"] == 0.3
    assert project.aliases() == {"champion": "2", "challenger": "4"}

    project.write_metrics(popularity=0.1, ease=0.4)
    better = project.register()
    assert better["promoted"] and better["champion"]["version"] == "6"
    assert project.aliases() == {"champion": "6", "challenger": "2"}  # the displaced champion outranks popularity


def test_a_missing_metric_fails_before_anything_is_logged(project: Project) -> None:
    project.write_metrics(popularity=0.1)  # no metrics/ease.json
    with pytest.raises(FileNotFoundError, match="evaluate@ease"):
        project.register()
    assert project.client().search_registered_models() == []
