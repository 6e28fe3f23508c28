"""Prefect flow running the same search as `recsys tune`: one task per model, in order (the models share the
machine, and each task reads params.yaml afresh, so settings tuned for an earlier model are kept).

Progress shows in the Prefect UI as each model's trials finish: a log line per trial and a progress
artifact per model; at the end a table artifact lists every model's default and best validation score and
the settings written. Run once from the repository root with `python -m flows.tune --models ease multvae`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

import optuna
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from pipeline.config import load_params
from pipeline.tuning.run import check_request, describe_result, tune_configured_model
from pipeline.tuning.search import TrialReport

RESULTS_ARTIFACT = "tuning-results"


def progress_key(name: str) -> str:
    """Artifact keys take lowercase letters, digits and dashes only."""
    return "tuning-progress-" + name.lower().replace("_", "-")


@task(task_run_name="tune-{name}", cache_policy=NO_CACHE)  # its point is the search and the params.yaml it writes
def tune_model_task(name: str, trials: int | None, timeout_seconds: float | None, write: bool) -> dict[str, Any]:
    """Search one model; returns its row of the results table."""
    logger = get_run_logger()
    progress = create_progress_artifact(progress=0.0, key=progress_key(name), description=f"trials of {name} finished")

    def on_trial(report: TrialReport) -> None:
        logger.info(report.line())
        update_progress_artifact(progress, 100.0 * (report.number + 1) / report.budget)

    result = tune_configured_model(name, trials, timeout_seconds, write, on_trial)
    update_progress_artifact(progress, 100.0)  # a timeout can end the search before the last planned trial
    logger.info(describe_result(result))
    return {
        "model": result.model, f"default valid {result.metric}": round(result.default_value, 5),
        f"best valid {result.metric}": round(result.best_value, 5), "trials": result.trials, "pruned": result.pruned,
        "best settings": json.dumps(result.best_settings), "written to": str(result.written_to or "-"),
        "mlflow run": result.run_id,
    }


@flow(name="tune-recommenders")
def tune(models: list[str] | None = None, trials: int | None = None, timeout_seconds: float | None = None,
         write: bool = True, project_dir: str = ".") -> list[dict[str, Any]]:
    """Tune `models` (default: every configured model) under params.yaml's `tune` budget, or `trials` and
    `timeout_seconds` per model; with `write`, better settings go into params.yaml's `models.<name>`."""
    root = Path(project_dir).resolve()
    if not (root / "params.yaml").is_file():
        raise FileNotFoundError(f"No params.yaml in {root}; pass project_dir=<the repository root>.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial's line is logged by the task
    with contextlib.chdir(root):  # the pipeline's paths are relative to the repository root
        names = models or list(load_params().models)
        check_request(names)  # every space checked before the first model trains
        rows = [tune_model_task(name, trials, timeout_seconds, write) for name in names]
    create_table_artifact(table=rows, key=RESULTS_ARTIFACT,
                          description="Default and best warm validation score per model, and the settings written.")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the flow once, e.g. `python -m flows.tune --models ease multvae --trials 20`."""
    parser = argparse.ArgumentParser(description="Run the tuning flow once.")
    parser.add_argument("--project-dir", default=".", help="repository root (default: .)")
    parser.add_argument("--models", nargs="+", help="models to tune (default: every configured model)")
    parser.add_argument("--trials", type=int, help="trials per model (default: tune.trials)")
    parser.add_argument("--timeout", type=float, help="seconds per model (default: tune.timeout_seconds)")
    parser.add_argument("--no-write", action="store_true", help="report the best settings without writing them")
    args = parser.parse_args(argv)
    tune(models=args.models, trials=args.trials, timeout_seconds=args.timeout, write=not args.no_write,
         project_dir=args.project_dir)


if __name__ == "__main__":
    main()
