"""The parallel training flow on a real DVC project (a copy of the working tree on a slice of the bundled
data) with two Dask workers: the models it trains side by side are the ones a sequential `dvc repro`
trains (same weights, same metrics), and DVC's record afterwards says the workspace is up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flows.parallel_train import dask_task_runner, parallel_retrain
from tests.test_pipeline_e2e import dvc, sliced_project

SLICE_LINES = 8_000
MODELS = {"popularity": {}, "bpr": {"epochs": 3}, "multvae": {"epochs": 2}}
TRAINED = [f"train@{name}" for name in MODELS]
STAGES = ["ingest", "validate", "split", "train", "evaluate"]

pytestmark = pytest.mark.slow  # three models trained twice and evaluated in a real DVC project: minutes



def three_models(params: dict) -> None:
    params["split"].update(sparsity=[], leave_last_out=False)
    params["evaluation"].update(bootstrap_samples=100, sampled_negatives=0)
    params["models"] = MODELS


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, movietweetings_dir: Path) -> Path:
    return sliced_project(tmp_path_factory.mktemp("parallel") / "project", movietweetings_dir, SLICE_LINES,
                          three_models)


def trained_outputs(project: Path) -> tuple[dict[str, bytes], dict[str, dict]]:
    """Every model's weights and its metrics without the wall times."""
    weights = {str(path.relative_to(project)): path.read_bytes() for path in sorted(project.glob("models/*/*/weights.pt"))}
    metrics = {}
    for name in MODELS:
        report = json.loads((project / "metrics" / f"{name}.json").read_text())
        metrics[name] = {key: value for key, value in report.items() if not key.startswith("train_seconds")}
    return weights, metrics


@pytest.fixture(scope="module")
def parallel_run(project: Path) -> dict:
    run = parallel_retrain.with_options(task_runner=dask_task_runner(workers=2, address=None))
    return run(project_dir=str(project), stages=STAGES, threads=1)


def test_parallel_training_is_recorded_so_dvc_has_nothing_to_do(project: Path, parallel_run: dict) -> None:
    assert sorted(parallel_run["train_seconds"]) == sorted(TRAINED)
    status = dvc(project, "status", "train", "evaluate")  # report and register were not asked for
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    again = dvc(project, "repro", "evaluate")
    assert again.returncode == 0, again.stderr
    assert "Running stage" not in again.stdout, again.stdout
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert all(stage in lock for stage in TRAINED)


def test_parallel_training_equals_sequential_training(project: Path, parallel_run: dict) -> None:
    parallel_weights, parallel_metrics = trained_outputs(project)
    assert len(parallel_weights) == len(MODELS) and parallel_metrics["bpr"]["warm"]
    sequential = dvc(project, "repro", "--force", "--single-item", *TRAINED)
    assert sequential.returncode == 0, sequential.stderr
    assert all(f"Running stage '{stage}'" in sequential.stdout for stage in TRAINED)
    evaluated = dvc(project, "repro", "evaluate")
    assert evaluated.returncode == 0, evaluated.stderr
    sequential_weights, sequential_metrics = trained_outputs(project)
    assert sequential_weights == parallel_weights
    assert sequential_metrics == parallel_metrics
