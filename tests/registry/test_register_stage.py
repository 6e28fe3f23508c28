"""The register stage against a real MLflow SQLite store: runs, versions, aliases and promotion.json."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import polars as pl
import pytest

from pipeline import paths
from pipeline.registry.audit import read_trail
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
    assert promotion["champion"]["version"] == "2" and promotion["champion"]["value"] == 0.3
    assert promotion["challenger"]["version"] == "1" and promotion["comparison"] is None  # nothing to compare with
    assert promotion["reasons"][0] == (
        "Best of 2 candidate(s) on warm validation ndcg@10: ease v2 (0.3000); runner-up popularity v1 (0.1000)."
    )
    assert promotion["runs"]["2"]["model_type"] == "ease"


def test_each_model_gets_one_run_with_params_metrics_and_artifacts(registered: tuple[Project, dict]) -> None:
    project, promotion = registered
    client = project.client()
    version = client.get_model_version(MODEL_NAME, "2")
    assert version.tags["promotion_decision"] == "champion" and version.tags["warm/valid/ndcg_at_10"] == "0.300000"
    assert version.run_id == promotion["runs"]["2"]["run_id"]
    run = client.get_run(version.run_id)
    params = run.data.params
    assert params["model_type"] == "ease" and params["l2"] == "10.0" and params["seed"] == "7"
    assert run.data.metrics["warm/valid/ndcg_at_10"] == 0.3 and run.data.metrics["warm/test/recall_at_10"] == 0.35
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/valid_ndcg_at_10")] == [1, 2]
    logged = {a.path for folder in ("training", "evaluation", "evaluation/per_user")
              for a in client.list_artifacts(run.info.run_id, folder) if not a.is_dir}
    assert logged == {"training/config.json", "training/training.json", "evaluation/ease.json",
                      "evaluation/per_user/ease.parquet"}


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


def test_every_version_carries_its_lineage(registered: tuple[Project, dict]) -> None:
    project, promotion = registered
    client = project.client()
    tags = {v: client.get_model_version(MODEL_NAME, v).tags for v in ("1", "2")}
    for version_tags in tags.values():
        assert version_tags["training.seconds"] == "0.010" and version_tags["training.device"] == "cpu"
        assert len(version_tags["split_hash"]) == 64 and len(version_tags["params_hash"]) == 64
    assert tags["1"]["split_hash"] == tags["2"]["split_hash"]  # one round, one split
    assert tags["1"]["params_hash"] != tags["2"]["params_hash"]  # models.ease differs from models.popularity
    run_tags = client.get_run(promotion["runs"]["2"]["run_id"]).data.tags
    assert run_tags["params_hash"] == tags["2"]["params_hash"] == promotion["runs"]["2"]["lineage"]["params_hash"]


def test_each_version_has_a_model_card(registered: tuple[Project, dict]) -> None:
    project, promotion = registered
    client = project.client()
    with TemporaryDirectory() as directory:
        card = Path(client.download_artifacts(promotion["runs"]["2"]["run_id"], "model_card.md", directory)).read_text()
    assert card.startswith("# Model card: ease (ease)")
    assert "## Data" in card and "- source: `movietweetings`" in card
    lines = [line for line in card.splitlines() if line.startswith("| warm | valid |")]
    (line,) = lines
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[3] == "0.3000" and cells[4] == "0.4000"  # ndcg@10, recall@10 of metrics/ease.json
    low, high = (float(bound) for bound in cells[-1].strip("[]").split(","))
    assert low < 0.3 < high and high - low < 0.05  # the bootstrap interval over the per-user values
    assert "| params_hash |" in card and "## Limits" in card and "not evaluated on new items" in card


def test_register_records_promotions_in_the_audit_trail(project: Project) -> None:
    project.write_metrics(popularity=0.1, ease=0.3)
    project.register()
    project.write_metrics(popularity=0.1, ease=0.4)
    project.register()
    trail = read_trail(project.client(), MODEL_NAME)
    assert [(e.action, e.version, e.champion_before, e.champion_after) for e in trail] == [
        ("promote", "2", "", "2"), ("promote", "4", "2", "4")]
    assert trail[1].why.startswith("warm validation ndcg@10 0.4000, best of this round; beats champion ease v2")


def test_a_tiny_but_consistent_gain_is_promoted_unless_below_min_gain(project: Project) -> None:
    project.write_metrics(popularity=0.1, ease=0.3)
    project.register()
    project.write_metrics(popularity=0.1, ease=0.3005)  # every validation user gains 0.0005
    promotion = project.register()
    comparison = promotion["comparison"]
    assert promotion["promoted"] and comparison["gain"] == pytest.approx(0.0005) and comparison["p_value"] < 1e-6
    project.write_params(promotion={"min_gain": 0.001})  # a gain this small is below what the team cares about
    project.write_metrics(popularity=0.1, ease=0.3008)
    promotion = project.register()
    assert not promotion["promoted"] and not promotion["comparison"]["gain_passed"]
    assert project.client().get_model_version(MODEL_NAME, "6").tags["promotion.passed"] == "false"
    assert project.aliases()["champion"] == "4"


def test_changed_splits_send_the_winner_to_a_reviewer(project: Project) -> None:
    project.write_metrics(popularity=0.1, ease=0.3)
    project.register()
    valid = project.root / paths.split_dir("warm") / "valid.parquet"
    pl.read_parquet(valid).head(-1).write_parquet(valid)  # fresh data: one validation interaction fewer
    project.write_metrics(popularity=0.1, ease=0.5)
    promotion = project.register()
    assert not promotion["promoted"] and promotion["pending"]["version"] == "4"
    assert "the numbers describe different users" in promotion["comparison"]["incomparable"]
    assert project.aliases() == {"champion": "2", "candidate": "4", "challenger": "3"}
    version = project.client().get_model_version(MODEL_NAME, "4")
    assert version.tags["promotion_decision"] == "pending-approval" and version.tags["promotion.comparable"] == "false"
    assert [e.action for e in read_trail(project.client(), MODEL_NAME)] == ["promote", "pending"]
    project.write_metrics(popularity=0.1, ease=0.6)  # the next night, still against the old champion
    assert project.register()["pending"]["version"] == "6" and project.aliases()["candidate"] == "6"
    assert project.client().get_model_version(MODEL_NAME, "4").tags["approval"] == "superseded"


def test_a_metric_without_per_user_values_needs_alpha_off(project: Project) -> None:
    project.write_params(promotion={"metric": "mrr@10"})
    project.write_metrics(popularity=0.1, ease=0.3)
    with pytest.raises(ValueError, match="per-user values of mrr@10.*set alpha: null"):
        project.register()
