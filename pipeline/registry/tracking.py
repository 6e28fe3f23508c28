"""MLflow bookkeeping for trained models: one run per model, then a new registered version.

Everything MLflow shows about a model is read from the files the train and evaluate stages wrote
(`models/<name>/`, `metrics/<name>.json`), so the registry never disagrees with `dvc metrics show`.
"""

from __future__ import annotations

import hashlib
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
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

from pipeline.config import Params
from pipeline.models.base import CONFIG_FILE, read_description
from pipeline.registry.pyfunc import log_pyfunc
from pipeline.stages.train import TRAINING_FILE

DEFAULT_DATABASE = Path("mlflow.db")
DVC_LOCK = Path("dvc.lock")
DATA_DVC = Path("data.dvc")
# Version tags that let the review table and the promotion policy name a version without its run.
VERSION_TAG_MODEL = "model"
VERSION_TAG_MODEL_TYPE = "model_type"
# Lineage: which splits a version was evaluated on (promotion pairs only versions with equal hashes).
SPLIT_HASH_TAG = "split_hash"
PER_USER_ARTIFACT_DIR = "evaluation/per_user"
MODEL_CARD_ARTIFACT = "model_card.md"
# The params that build one model: everything upstream of its train stage, plus its own section.
LINEAGE_PARAM_SECTIONS = ("seed", "data", "split", "train")


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
    try:
        mlflow.set_experiment(experiment)
    except MlflowException as error:  # another register run created it between MLflow's lookup and create
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
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
    lineage: Mapping[str, str],
    per_user_file: Path,
    model_card: str,
) -> RegisteredVersion:
    """Log one MLflow run for the model trained under `name` and register it as a new version.

    `history` (interactions with original ids) is what the served model knows about its users. `lineage`
    tags go on the run and the version; the per-user values travel with the run so a later round can
    pair its candidates with this version, and `model_card` (Markdown) is logged as model_card.md.
    """
    description = read_description(model_dir)
    report = json.loads(metrics_file.read_text(encoding="utf-8"))
    training_file = model_dir / TRAINING_FILE
    training = read_training(model_dir)
    model_type = description["model"]
    client = MlflowClient()
    with mlflow.start_run(run_name=name) as run:
        version_tags = {VERSION_TAG_MODEL: name, VERSION_TAG_MODEL_TYPE: model_type, **lineage}
        mlflow.set_tags(version_tags)
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
        mlflow.log_artifact(str(per_user_file), artifact_path=PER_USER_ARTIFACT_DIR)
        mlflow.log_text(model_card, MODEL_CARD_ARTIFACT)
        model_info = log_pyfunc(model_dir, history)
        version = mlflow.register_model(model_info.model_uri, registered_model_name, tags=version_tags)
    return RegisteredVersion(name=name, model_type=model_type, run_id=run.info.run_id, version=str(version.version))


def read_training(model_dir: Path) -> dict[str, Any]:
    """What the train stage recorded (seconds, device, per-epoch log); empty when it wrote nothing."""
    path = model_dir / TRAINING_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def lineage_tags(name: str, params: Params, split_hash: str, training: Mapping[str, Any]) -> dict[str, str]:
    """Everything needed to tell where a version came from: code and DVC hashes (`provenance_tags`), the
    raw data's hash in data.dvc, a hash of the params that built the model, the splits it was evaluated
    on, and the warm training run's time, device and why it stopped (models/<name>/warm/training.json)."""
    tags = provenance_tags(name)
    if DATA_DVC.is_file():
        outs = (yaml.safe_load(DATA_DVC.read_text(encoding="utf-8")) or {}).get("outs", [])
        if outs and "md5" in outs[0]:
            tags["dvc.data_md5"] = outs[0]["md5"]
    tags["params_hash"] = params_hash(params, name)
    tags[SPLIT_HASH_TAG] = split_hash
    if "seconds" in training:
        tags["training.seconds"] = f"{float(training['seconds']):.3f}"
    if "device" in training:
        tags["training.device"] = str(training["device"])
    if training.get("stopped"):  # why the loop ended (patience, time budget, epochs) and the epoch it kept
        tags["training.stopped"] = str(training["stopped"])
        tags["training.best_epoch"] = str(training["best_epoch"])
    return tags


def params_hash(params: Params, name: str) -> str:
    """SHA-256 of the params that built model `name` (seed, data, split, train and models.<name>), so two
    versions with equal hashes were built the same way from the same upstream settings."""
    dumped = params.model_dump(mode="json")
    built_from = {section: dumped[section] for section in LINEAGE_PARAM_SECTIONS}
    built_from["model"] = dumped["models"].get(name, {})
    return hashlib.sha256(json.dumps(built_from, sort_keys=True).encode()).hexdigest()


def split_fingerprint(directory: Path) -> str:
    """SHA-256 over every file of the splits (relative path and bytes), so versions evaluated on the same
    users and items share it; computed from the files rather than dvc.lock so it holds outside DVC too."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} not found: run `dvc repro split` first")
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def provenance_tags(name: str) -> dict[str, str]:
    """Which code produced the model: the git commit and the DVC hashes of the model and the
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
