"""The README's main command on a clone of the committed project with the full default data and every
configured model (slow: about an hour on a 2-core CPU; run with `pytest -m slow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def recsys(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{clone / 'mlflow.db'}", "DVC_NO_ANALYTICS": "1"}
    executable = Path(sys.executable).parent / "recsys"
    return subprocess.run([str(executable), *args], cwd=clone, env=env, capture_output=True, text=True, check=False)


@pytest.mark.timeout(2 * 3600)
def test_recsys_run_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    first = recsys(clone, "run")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    promotion = json.loads((clone / "reports" / "promotion.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("recommender", "champion")
    assert champion.version == promotion["champion"]["version"]
    warm = {json.loads(p.read_text())["model"]: json.loads(p.read_text())["warm"]["test"]["ndcg@10"]
            for p in (clone / "metrics").glob("*.json")}
    assert warm["ease"] >= 0.067
    second = recsys(clone, "run")
    assert second.returncode == 0 and "Running stage" not in second.stdout
