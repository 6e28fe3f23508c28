"""The approval pause of the retrain flow, with everything real: the register stage run by DVC on a tiny
trained project, its SQLite MLflow store, and a temporary Prefect server. The flow runs in a thread; the
test waits for its Paused state and resumes it with a reviewer's answer, as the Prefect UI would."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from flows import approval
from flows.retrain import RetrainSummary, retrain
from pipeline.registry.audit import read_trail
from tests.registry.conftest import MODEL_NAME, Project, new_project

REPOSITORY = Path(__file__).resolve().parents[2]
REGISTER_ONLY = """
stages:
  register:
    cmd: python -m pipeline.stages.register
    deps: [metrics, reports/per_user]
    outs:
      - reports/promotion.json:
          cache: false
"""
PAUSE_WAIT_SECONDS = 180


def paused_flow_run_id(running: Future[RetrainSummary]) -> str:
    """Wait for the one paused flow run and return its id; a flow that ended instead raises its error."""
    deadline = time.monotonic() + PAUSE_WAIT_SECONDS
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            paused = [run for run in client.read_flow_runs() if run.state is not None and run.state.is_paused()]
            if paused:
                (run,) = paused
                return str(run.id)
            if running.done():
                raise AssertionError(f"the flow ended without pausing: {running.result()}")
            time.sleep(0.5)
    raise AssertionError(f"no flow run paused within {PAUSE_WAIT_SECONDS}s")


def run_and_answer(project: Project, answer: dict) -> RetrainSummary:
    """Run the flow's register stage in a thread, resume the pause with `answer`, return the flow's summary."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(retrain, project_dir=str(project.root), stages=["register"])
        resume_flow_run(paused_flow_run_id(running), run_input=answer)
        return running.result(timeout=PAUSE_WAIT_SECONDS)


@pytest.fixture
def project(tmp_path: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The registry tests' tiny trained project with require_approval, as a git + DVC repository."""
    project = new_project(tmp_path, empty_store, require_approval=True)
    (project.root / "dvc.yaml").write_text(REGISTER_ONLY)
    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project.root, check=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.uri)
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY))  # the stage imports this checkout's pipeline
    monkeypatch.setattr(approval, "APPROVAL_POLL_SECONDS", 1)
    return project


@pytest.mark.slow  # two DVC register rounds and two pauses on a temporary server: about 90 s on two busy cores
@pytest.mark.timeout(600)
def test_the_flow_pauses_for_approval_and_applies_the_answer(project: Project) -> None:
    project.write_metrics(popularity=0.1, ease=0.3)
    summary = run_and_answer(project, {"approve": True, "reviewer": "ana"})
    assert summary["review"] == "'champion' of 'recommender' is now version 2 (the first champion)"
    assert project.aliases() == {"champion": "2", "challenger": "1"}
    client = project.client()
    assert client.get_model_version(MODEL_NAME, "2").tags["approval"] == "approved"

    project.write_metrics(popularity=0.1, ease=0.4)  # a better round: waits again, and is turned down
    summary = run_and_answer(project, {"approve": False, "reason": "cold-start lists look broken"})
    assert summary["review"] == "version 4 of 'recommender' is rejected (removed alias candidate)"
    assert project.aliases() == {"champion": "2", "challenger": "3"}
    tags = client.get_model_version(MODEL_NAME, "4").tags
    assert tags["approval"] == "rejected" and tags["promotion_reason"].endswith(": cold-start lists look broken")
    trail = [(e.action, e.version, e.who) for e in read_trail(client, MODEL_NAME)]
    assert trail[1] == ("approve", "2", "ana (Prefect)") and trail[3][:2] == ("reject", "4")

    # Nothing changed: DVC skips register, nothing waits, the flow does not pause.
    assert retrain(project_dir=str(project.root), stages=["register"])["review"] is None
