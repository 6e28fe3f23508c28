"""The retrain flow against a real (tiny) DVC project and a temporary Prefect server (tests/flows/conftest.py).

The project mirrors the real stage names, including foreach groups, but each stage is a one-line
script that appends its name to trace.log, so the tests see exactly which stages ran and in what
order. Flow runs are few (three) because each one talks to the temporary server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from prefect.states import Failed

from flows.retrain import (
    DataValidationError,
    StageError,
    TransientStageError,
    classify_failure,
    is_transient_failure,
    project_lock,
    retrain,
)

ALL_STAGES = [
    "ingest",
    "validate",
    "split",
    "train@popularity",
    "train@ease",
    "evaluate@popularity",
    "evaluate@ease",
    "report",
    "register",
]

STAGE_SCRIPT = '''
import json, pathlib, sys

stage, *args = sys.argv[1:]
with open("trace.log", "a") as trace:
    trace.write("@".join([stage, *args]) + "\\n")

def write(path, text):
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(text)

if stage == "ingest":
    write("data/processed.txt", pathlib.Path("raw.txt").read_text())
elif stage == "validate":
    if "bad" in pathlib.Path("data/processed.txt").read_text():
        print("Data validation failed:", file=sys.stderr)
        print("  user_id: 3 null values", file=sys.stderr)
        print("  rating: 2 values outside [1, 5]", file=sys.stderr)
        sys.exit(1)
    write("data/validated.txt", "ok")
elif stage == "split":
    write("data/splits/warm.txt", "split")
elif stage == "train":
    write(f"models/{args[0]}.txt", "weights")
elif stage == "evaluate":
    write(f"metrics/{args[0]}.json", json.dumps({"ndcg@10": 0.1}))
elif stage == "report":
    write("reports/leaderboard.md", "| model | ndcg@10 |\\n|---|---|\\n| ease | 0.2 |\\n")
    write("reports/leaderboard.csv", "model,ndcg@10\\nease,0.2\\npopularity,0.1\\n")
elif stage == "register":
    write("reports/promotion.json", json.dumps({"champion": "ease"}))
'''

DVC_YAML = """
stages:
  ingest:
    cmd: python stages.py ingest
    deps: [stages.py, raw.txt]
    outs: [data/processed.txt]
  validate:
    cmd: python stages.py validate
    deps: [stages.py, data/processed.txt]
    outs: [data/validated.txt]
  split:
    cmd: python stages.py split
    deps: [stages.py, data/validated.txt]
    outs: [data/splits]
  train:
    foreach: [popularity, ease]
    do:
      cmd: python stages.py train ${item}
      deps: [stages.py, data/splits]
      outs: ["models/${item}.txt"]
  evaluate:
    foreach: [popularity, ease]
    do:
      cmd: python stages.py evaluate ${item}
      deps: [stages.py, "models/${item}.txt"]
      outs: ["metrics/${item}.json"]
  report:
    cmd: python stages.py report
    deps: [stages.py, metrics]
    outs: [reports/leaderboard.md, reports/leaderboard.csv]
  register:
    cmd: python stages.py register
    deps: [stages.py, reports/leaderboard.csv]
    outs: [reports/promotion.json]
"""


def make_project(root: Path, raw_data: str) -> Path:
    """A git + DVC repository with the stage script above and the given raw data."""
    root.mkdir()
    (root / "stages.py").write_text(STAGE_SCRIPT)
    (root / "dvc.yaml").write_text(textwrap.dedent(DVC_YAML))
    (root / "raw.txt").write_text(raw_data)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    for command in (
        ["init", "-q"],
        ["config", "core.analytics", "false"],
        ["config", "core.check_update", "false"],
    ):
        subprocess.run([sys.executable, "-m", "dvc", *command], cwd=root, check=True)
    return root


def trace(project: Path) -> list[str]:
    """Stage invocations in the order they happened."""
    path = project / "trace.log"
    return path.read_text().split() if path.exists() else []


@pytest.fixture(scope="module")
def good_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A project with valid data after one full flow run."""
    project = make_project(tmp_path_factory.mktemp("retrain") / "project", raw_data="good\n")
    return project, retrain(project_dir=str(project))


def test_stages_run_in_pipeline_order(good_project: tuple[Path, dict]) -> None:
    project, summary = good_project
    assert trace(project) == ALL_STAGES
    assert summary["reproduced"] == ALL_STAGES
    assert json.loads(Path(summary["promotion"]).read_text()) == {"champion": "ease"}


def test_leaderboard_is_published_as_artifacts(good_project: tuple[Path, dict]) -> None:
    markdown = Artifact.get("leaderboard")
    table = Artifact.get("leaderboard-table")
    assert markdown is not None and markdown.type == "markdown"
    assert "| ease | 0.2 |" in markdown.data
    assert table is not None and table.type == "table"
    assert json.loads(table.data) == [
        {"model": "ease", "ndcg@10": "0.2"},
        {"model": "popularity", "ndcg@10": "0.1"},
    ]


def test_second_run_on_unchanged_data_reproduces_nothing(good_project: tuple[Path, dict]) -> None:
    project, _ = good_project
    summary = retrain(project_dir=str(project))
    assert summary["reproduced"] == []
    assert trace(project) == ALL_STAGES  # no stage command ran again


def test_validation_failure_fails_the_flow_and_stops_the_pipeline(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", raw_data="bad\n")
    state = retrain(project_dir=str(project), return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, DataValidationError)
    assert "user_id: 3 null values\n  rating: 2 values outside [1, 5]" in str(error)
    assert "user_id: 3 null values" in (state.message or "")
    assert trace(project) == ["ingest", "validate"]  # validate ran once: no retry, nothing after
    assert not (project / "data/splits").exists()
    assert not (project / "reports").exists()


def test_only_transient_failures_are_retried() -> None:
    def retried(error: Exception) -> bool:
        return is_transient_failure(None, None, Failed(data=error))  # type: ignore[arg-type]

    dvc_lock = classify_failure("train", 1, "ERROR: Unable to acquire lock. Most likely another")
    assert isinstance(dvc_lock, TransientStageError) and retried(dvc_lock)
    validation = classify_failure("validate", 1, "Data validation failed:\nrating: >5\nERROR: x")
    assert isinstance(validation, DataValidationError) and not retried(validation)
    assert str(validation) == "Data validation failed:\nrating: >5"
    crash = classify_failure("train", 1, "Traceback ...\nValueError: bad config")
    assert type(crash) is StageError and not retried(crash)


def test_project_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    with project_lock(tmp_path):
        with pytest.raises(TransientStageError, match="Another retrain run"):
            with project_lock(tmp_path, wait_seconds=0):
                pass
    with project_lock(tmp_path, wait_seconds=0):  # released again
        pass
