"""`dvc repro` end to end in a temporary copy of the project, on a slice of the real bundled data:
outputs, the registry's champion, a no-op second run, and a corrupted raw file stopped at `validate`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import REPO_ROOT

SLICE_LINES = 20_000
# What a run produces; a copy of the project starts without any of it.
GENERATED = ("models/", "metrics/", "reports/", "checkpoints/", "mlruns/", "mlflow.db", "dvc.lock", "data/bundled-remote")


def project_files() -> list[str]:
    """The project's sources as they are in the working tree (uncommitted edits included)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            check=True, capture_output=True, text=True).stdout.split()
    return [path for path in listed if (REPO_ROOT / path).is_file() and not path.startswith(GENERATED)]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
           "DVC_NO_ANALYTICS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], project)


def sliced_project(root: Path, movietweetings_dir: Path, slice_lines: int, configure: Callable[[dict], None]) -> Path:
    """A git-committed copy of the working tree in `root`, on the first `slice_lines` bundled ratings, with
    params.yaml adjusted by `configure` (a small data set needs a lower `validation.min_rows`, set here)."""
    for path in project_files():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / path, root / path)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("movies.dat", "users.dat", "LICENSE"):
        shutil.copy(movietweetings_dir / name, raw / name)
    lines = (movietweetings_dir / "ratings.dat").read_text(encoding="utf-8").splitlines()[:slice_lines]
    (raw / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["validation"]["min_rows"] = 100
    configure(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t",
                                                                   "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=root, check=True)
    return root


def small_pipeline(params: dict) -> None:
    params["split"]["sparsity"] = [0.5]
    params["evaluation"]["bootstrap_samples"] = 100
    params["evaluation"]["sampled_negatives"] = 20
    # the classical models plus one sequence model and the feature-aware two-tower, a couple of epochs each:
    # every stage must handle fold-in, sequences and new-item scoring, not only closed-form models
    params["models"] = {"popularity": {}, "itemknn": {"k": 50}, "ease": {"l2": 200.0}, "content": {},
                        "bpr": {"epochs": 3}, "gru4rec": {"epochs": 2}, "twotower": {"epochs": 2}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, movietweetings_dir: Path) -> Path:
    return sliced_project(tmp_path_factory.mktemp("project"), movietweetings_dir, SLICE_LINES, small_pipeline)


@pytest.fixture(scope="module")
def first_run(project: Path) -> subprocess.CompletedProcess:
    return dvc(project, "repro")


def champion_version(project: Path) -> tuple[str, int]:
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    versions = client.search_model_versions("name='recommender'")
    return client.get_model_version_by_alias("recommender", "champion").version, len(versions)


def test_repro_trains_evaluates_and_registers_a_champion(project: Path, first_run: subprocess.CompletedProcess) -> None:
    assert first_run.returncode == 0, first_run.stdout[-3000:] + first_run.stderr[-3000:]
    for name in ("popularity", "itemknn", "ease", "content", "bpr", "gru4rec", "twotower"):
        assert (project / "metrics" / f"{name}.json").exists()
        assert (project / "reports" / "topk" / f"{name}.parquet").exists()
    leaderboard = (project / "reports" / "leaderboard.md").read_text()
    for section in ("## warm:", "## cold_items:", "## cold_users_k1:", "## sparse_0.5:", "## loo:", "## warm_sampled: SAMPLED"):
        assert section in leaderboard
    assert "not applicable: collaborative model" in leaderboard, "pure CF models are not scored on new items"
    cold_items = json.loads((project / "metrics" / "twotower.json").read_text())["cold_items"]
    assert cold_items["test"]["ndcg@10"] > 0, "the two-tower scores new items from their features"
    cold_board = pl.read_csv(project / "reports" / "leaderboards" / "cold_items.csv").filter(pl.col("model") == "twotower")
    low, high = cold_board["ndcg@10_items_ci_low"].item(), cold_board["ndcg@10_items_ci_high"].item()
    assert low < cold_items["test"]["ndcg@10"] < high, "new items' leaderboard rows carry the interval over items"
    assert (project / "reports" / "plots" / "sparsity.png").stat().st_size > 0
    assert (project / "reports" / "promotion.json").exists()
    version, n_versions = champion_version(project)
    assert int(version) >= 1 and n_versions == 7


def test_second_repro_has_nothing_to_do(project: Path, first_run: subprocess.CompletedProcess) -> None:
    assert first_run.returncode == 0
    second = dvc(project, "repro")
    assert second.returncode == 0, second.stderr
    assert "Running stage" not in second.stdout
    assert "up to date" in second.stdout


def test_corrupted_raw_file_stops_at_validate_and_leaves_registry_unchanged(
    project: Path, first_run: subprocess.CompletedProcess
) -> None:
    assert first_run.returncode == 0
    before = champion_version(project)
    ratings = project / "data" / "raw" / "ratings.dat"
    lines = ratings.read_text(encoding="utf-8").splitlines()
    lines[10] = "::0110912::8::1375657563"  # null user id
    lines[20] = "14927::0110912::nine::1375657563"  # non-numeric rating
    ratings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = dvc(project, "repro")
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "Data validation failed" in output
    assert "interactions.rating: 1 value is not a number" in output or "rating" in output.split("Data validation failed")[1]
    assert "interactions.user_id: 1 null value" in output
    assert "Running stage 'split'" not in output
    assert champion_version(project) == before
