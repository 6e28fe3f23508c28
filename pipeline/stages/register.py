"""Stage `register`: log every trained model to MLflow, register it, and decide the promotion."""

from __future__ import annotations

import json
import logging
import math

import polars as pl
from mlflow import MlflowClient

from pipeline import paths
from pipeline.config import load_params
from pipeline.registry.promotion import Contender, apply_decision, current_champion, decide_promotion
from pipeline.registry.tracking import configure_tracking, log_and_register
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)
REGIME = "warm"


def validation_value(model: str, metric: str) -> float:
    """The promotion metric of `model` on warm validation, read from metrics/<model>.json."""
    path = paths.metrics_file(model)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro evaluate@{model}` first")
    valid = json.loads(path.read_text(encoding="utf-8")).get(REGIME, {}).get("valid", {})
    value = valid.get(metric)
    if not isinstance(value, int | float) or not math.isfinite(value):
        known = ", ".join(sorted(valid)) or "none"
        raise ValueError(
            f"{path} has no finite {REGIME}/valid/{metric}; set registry.champion_metric to one of: {known}"
        )
    return float(value)


def known_history() -> pl.DataFrame:
    """What the served model knows about its users: the warm train and validation interactions."""
    directory = paths.split_dir(REGIME)
    return pl.concat([pl.read_parquet(directory / f"{part}.parquet") for part in ("train", "valid")])


def main() -> None:
    params = load_params()
    settings = params.registry
    if not params.models:
        raise ValueError("params.yaml has no `models` to register")
    # Check every metrics file before the first run is logged, so a typo leaves no half-registered round.
    values = {name: validation_value(name, settings.champion_metric) for name in params.models}
    uri = configure_tracking(settings.experiment)
    client = MlflowClient()
    previous = current_champion(client, settings.model_name, settings.champion_metric)
    history = known_history()
    registered = [
        log_and_register(
            name, paths.model_dir(name, REGIME), paths.metrics_file(name), history, params.seed, settings.model_name
        )
        for name in params.models
    ]
    candidates = [Contender(version=r.version, model=r.name, value=values[r.name]) for r in registered]
    decision = decide_promotion(candidates, previous, settings.champion_metric, settings.require_approval)
    apply_decision(client, settings.model_name, decision)
    report = {
        "tracking_uri": uri,
        "registered_model": settings.model_name,
        **decision.to_dict(),
        "runs": {r.version: {"model": r.name, "model_type": r.model_type, "run_id": r.run_id} for r in registered},
    }
    paths.PROMOTION_FILE.parent.mkdir(parents=True, exist_ok=True)
    paths.PROMOTION_FILE.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for reason in decision.reasons:
        log.info(reason)


if __name__ == "__main__":
    run_stage("register", main)
