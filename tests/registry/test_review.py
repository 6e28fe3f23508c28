"""Reviewing the registry and approving candidates, through the functions and the `recsys` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.registry.review import approve, format_versions, list_versions
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
