"""MLflow bookkeeping for trained models: one run per model, then a new registered version.

Everything MLflow shows about a model is read from the files the train and evaluate stages wrote
(`models/<name>/`, `metrics/<name>.json`), so the registry never disagrees with `dvc metrics show`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric

from pipeline.models.base import CONFIG_FILE, read_description
from pipeline.registry.pyfunc import log_pyfunc
from pipeline.stages.train import TRAINING_FILE

DEFAULT_DATABASE = Path("mlflow.db")
DVC_LOCK = Path("dvc.lock")
# Version tags that let the review table and the promotion policy name a version without its run.
VERSION_TAG_MODEL = "model"
VERSION_TAG_MODEL_TYPE = "model_type"


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set (a shared server), else a SQLite store in the working directory,
    which is the repository root when DVC runs the stage; artifacts then go to ./mlruns beside it."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_DATABASE.resolve()}"


def configure_tracking(experiment: str) -> str:
    """Point MLflow at the tracking store, create `experiment` if needed; return the URI used."""
    uri = tracking_uri()
    # Per-file download bars would flood the stage log each time a model is logged.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    return uri


def safe_metric_name(name: str) -> str:
    """MLflow metric names may not contain '@': `ndcg@10` -> `ndcg_at_10`."""
    return name.replace("@", "_at_")


def metric_key(regime: str, split: str, metric: str) -> str:
    """The run metric for one number of metrics/<model>.json, e.g. `warm/test/ndcg_at_10`."""
    return f"{regime}/{split}/{safe_metric_name(metric)}"


def flatten_metrics(report: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every number of a metrics report, nested keys joined by '/': `{"warm": {"test": {"ndcg@10": x}}}`
    gives `warm/test/ndcg_at_10`. Strings (the model name, 'not supported' notes) are skipped."""
    for key, value in report.items():
        name = prefix + safe_metric_name(str(key))
        if isinstance(value, Mapping):
            yield from flatten_metrics(value, name + "/")
        elif _is_number(value):
            yield name, float(value)


def run_metrics(report: Mapping[str, Any], training_log: list[dict[str, Any]]) -> list[Metric]:
    """The evaluation report at step 0, plus the per-epoch training log (loss, validation metric, ...)
    as step metrics `train/<key>`, so the MLflow UI draws learning curves."""
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0) for key, value in flatten_metrics(report)]
    for position, entry in enumerate(training_log, start=1):
        step = int(entry.get("epoch", position))
        metrics += [
            Metric(f"train/{safe_metric_name(key)}", float(value), now, step)
            for key, value in entry.items()
            if key != "epoch" and _is_number(value)
        ]
    return metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class RegisteredVersion:
    """The outcome of logging one trained model: its run and its new registered version."""

    name: str
    model_type: str
    run_id: str
    version: str


def log_and_register(
    name: str,
    model_dir: Path,
    metrics_file: Path,
    history: pl.DataFrame,
    seed: int,
    registered_model_name: str,
) -> RegisteredVersion:
    """Log one MLflow run for the model trained under `name` and register it as a new version.

    `history` (interactions with original ids) is what the served model knows about its users.
    """
    description = read_description(model_dir)
    report = json.loads(metrics_file.read_text(encoding="utf-8"))
    training_file = model_dir / TRAINING_FILE
    training = json.loads(training_file.read_text(encoding="utf-8")) if training_file.exists() else {}
    model_type = description["model"]
    client = MlflowClient()
    with mlflow.start_run(run_name=name) as run:
        mlflow.set_tags({VERSION_TAG_MODEL: name, VERSION_TAG_MODEL_TYPE: model_type, **provenance_tags(name)})
        if "stopped" in training:  # why the loop ended (patience, time budget, epochs) and the epoch kept
            mlflow.set_tags({"training_stopped": training["stopped"], "training_best_epoch": training["best_epoch"]})
        mlflow.log_params(
            {
                "model_type": model_type,
                "seed": seed,  # a model's own `seed` hyperparameter, when it has one, is the one it used
                "n_users": description["n_users"],
                "n_items": description["n_items"],
                **description["config"],
            }
        )
        client.log_batch(run.info.run_id, metrics=run_metrics(report, training.get("log", [])))
        mlflow.log_artifact(str(model_dir / CONFIG_FILE), artifact_path="training")
        if training_file.exists():
            mlflow.log_artifact(str(training_file), artifact_path="training")
        mlflow.log_artifact(str(metrics_file), artifact_path="evaluation")
        model_info = log_pyfunc(model_dir, history)
        version = mlflow.register_model(
            model_info.model_uri,
            registered_model_name,
            tags={VERSION_TAG_MODEL: name, VERSION_TAG_MODEL_TYPE: model_type},
        )
    return RegisteredVersion(name=name, model_type=model_type, run_id=run.info.run_id, version=str(version.version))


def provenance_tags(name: str) -> dict[str, str]:
    """Which code and data produced the model: the git commit and the DVC hashes of the model and the
    splits (from dvc.lock, written by `dvc repro` before this stage runs); absent ones are left out."""
    tags: dict[str, str] = {}
    git = shutil.which("git")
    commit = subprocess.run([git, "rev-parse", "HEAD"], capture_output=True, text=True, check=False) if git else None
    if commit is not None and commit.returncode == 0:
        tags["git.commit"] = commit.stdout.strip()
    if DVC_LOCK.is_file():
        stages = (yaml.safe_load(DVC_LOCK.read_text(encoding="utf-8")) or {}).get("stages", {})
        for stage, tag in ((f"train@{name}", "dvc.model_md5"), ("split", "dvc.splits_md5")):
            outs = stages.get(stage, {}).get("outs", [])
            if outs and "md5" in outs[0]:
                tags[tag] = outs[0]["md5"]
    return tags
