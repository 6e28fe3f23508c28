"""Reviewing the registry and approving candidates, through the functions and the `recsys` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.registry.audit import current_user, read_trail
from pipeline.registry.review import approve, format_versions, list_versions, reject, rollback
from tests.registry.conftest import MODEL_NAME, Project, new_project


def test_review_lists_versions_newest_first_with_metrics_and_aliases(registered: tuple[Project, dict]) -> None:
    project, _ = registered
    versions = list_versions(project.client(), MODEL_NAME)
    assert [(v.version, v.model, v.aliases) for v in versions] == [("2", "ease", ("champion",)),
                                                                   ("1", "popularity", ("challenger",))]
    assert versions[0].metrics == {"valid ndcg@10": 0.3, "valid recall@10": 0.4, "test ndcg@10": 0.29,
                                   "test recall@10": 0.35}
    lines = format_versions(versions).splitlines()
    assert lines[0].split()[:3] == ["version", "model", "type"]
    assert lines[1].split()[:8] == ["2", "ease", "ease", "0.3000", "0.4000", "0.2900", "0.3500", "champion"]
    assert "best of this round" in lines[1]


def test_approve_promotes_a_pending_candidate(tmp_path: Path, empty_store: Path) -> None:
    project = new_project(tmp_path, empty_store, require_approval=True)
    project.write_metrics(popularity=0.1, ease=0.3)
    promotion = project.register()
    client = project.client()
    assert promotion["pending"]["version"] == "2" and promotion["champion"] is None
    assert project.aliases() == {"candidate": "2", "challenger": "1"}
    assert client.get_model_version(MODEL_NAME, "2").tags["approval"] == "pending"

    assert "now version 2" in approve(client, MODEL_NAME, "2")
    assert project.aliases() == {"champion": "2", "challenger": "1"}
    assert client.get_model_version(MODEL_NAME, "2").tags["approval"] == "approved"

    approve(client, MODEL_NAME, "1")  # approving the challenger swaps the two
    assert project.aliases() == {"champion": "1", "challenger": "2"}
    with pytest.raises(ValueError, match="no version 9; versions: 1, 2"):
        approve(client, MODEL_NAME, "9")
    trail = read_trail(client, MODEL_NAME)
    assert [(e.action, e.version, e.champion_before, e.champion_after) for e in trail] == [
        ("pending", "2", "", ""), ("approve", "2", "", "2"), ("approve", "1", "2", "1")]
    assert {e.who for e in trail} == {current_user()} and trail[2].why == "approved, replacing version 2"


def test_reject_records_the_reason_and_withdraws_the_candidate(tmp_path: Path, empty_store: Path) -> None:
    project = new_project(tmp_path, empty_store, require_approval=True)
    project.write_metrics(popularity=0.1, ease=0.3)
    project.register()
    client = project.client()
    with pytest.raises(ValueError, match="say why"):
        reject(client, MODEL_NAME, "2", "  ")
    assert "removed alias candidate" in reject(client, MODEL_NAME, "2", "recommends the same 10 films to everyone")
    assert project.aliases() == {"challenger": "1"}
    tags = client.get_model_version(MODEL_NAME, "2").tags
    assert tags["approval"] == "rejected" and tags["promotion_decision"] == "rejected"
    assert tags["promotion_reason"] == f"rejected by {current_user()}: recommends the same 10 films to everyone"
    event = read_trail(client, MODEL_NAME)[-1]
    assert (event.action, event.version, event.why) == ("reject", "2", "recommends the same 10 films to everyone")
    approve(client, MODEL_NAME, "1")
    with pytest.raises(ValueError, match="version 1 is the champion; `recsys rollback`"):
        reject(client, MODEL_NAME, "1", "too late")


def test_rollback_walks_back_through_the_champions(project: Project) -> None:
    client = project.client()
    for ease in (0.3, 0.4, 0.5):  # champions v2, v4, v6
        project.write_metrics(popularity=0.1, ease=ease)
        project.register()
    assert project.aliases() == {"champion": "6", "challenger": "4"}
    assert rollback(client, MODEL_NAME, "v6 serves stale items") == "'champion' of 'recommender' is back at version 4 (was 6)"
    assert project.aliases() == {"champion": "4"}  # v4 no longer its own alternative; v6 was withdrawn
    assert client.get_model_version(MODEL_NAME, "6").tags["promotion_decision"] == "rolled-back"
    rollback(client, MODEL_NAME, "")
    assert project.aliases()["champion"] == "2"  # two champions back, not back and forth
    with pytest.raises(ValueError, match="version 2 is the first champion in the audit trail"):
        rollback(client, MODEL_NAME, "")
    assert [e.action for e in read_trail(client, MODEL_NAME)] == ["promote"] * 3 + ["rollback"] * 2


def test_rollback_refuses_when_the_alias_was_moved_behind_the_trail(registered: tuple[Project, dict]) -> None:
    project, _ = registered
    client = project.client()
    with pytest.raises(ValueError, match="has no champion to roll back"):
        rollback(client, "nothing-registered", "")
    client.set_registered_model_alias(MODEL_NAME, "champion", "1")  # by hand, in the MLflow UI
    try:
        with pytest.raises(ValueError, match="points at version 1 but the audit trail ends at version 2"):
            rollback(client, MODEL_NAME, "")
    finally:
        client.set_registered_model_alias(MODEL_NAME, "champion", "2")


def test_recsys_review_prints_the_table(
    registered: tuple[Project, dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = registered
    monkeypatch.chdir(project.root)  # params.yaml names the registered model
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.uri)
    cli.main(["review"])
    assert "champion" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["approve", "9"])
    assert exit_info.value.code == 1 and "no version 9" in capsys.readouterr().err
    cli.main(["audit"])
    assert "promote v2  (champion - -> 2)  warm validation ndcg@10 0.3000" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["rollback", "--why", "test"])
    assert exit_info.value.code == 1 and "first champion in the audit trail" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["reject", "1"])  # --why is required
    assert "--why" in capsys.readouterr().err


def test_recsys_run_passes_arguments_to_dvc_with_this_python_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_run(command: list[str], env: dict[str, str], check: bool) -> subprocess.CompletedProcess[str]:
        calls.append((command, env["PATH"]))
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--force", "-s", "train@ease"])
    assert exit_info.value.code == 3
    (command, path), = calls
    assert command == [sys.executable, "-m", "dvc", "repro", "--pull", "--force", "-s", "train@ease"]
    assert path.startswith(str(Path(sys.executable).parent))
