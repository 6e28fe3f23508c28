"""Stage `register`: log every trained model to MLflow (with lineage tags, per-user values and a model
card), register it, and decide the promotion under the store's lock (pipeline/registry/locking.py)."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import polars as pl
from mlflow import MlflowClient

from pipeline import paths
from pipeline.config import Params, PromotionPolicy, load_params
from pipeline.models.base import read_description
from pipeline.registry import audit
from pipeline.registry.locking import registry_lock
from pipeline.registry.model_card import CardInputs, model_card
from pipeline.registry.promotion import (
    Contender,
    PromotionDecision,
    apply_decision,
    current_champion,
    decide_promotion,
    per_user_values,
)
from pipeline.registry.tracking import (
    configure_tracking,
    lineage_tags,
    log_and_register,
    read_training,
    split_fingerprint,
)
from pipeline.stages.cli import run_stage
from pipeline.stages.evaluate import PER_USER_METRICS, per_user_file

log = logging.getLogger(__name__)
SERVED_REGIME = "warm"  # the served model is the warm-trained one; it knows train + validation


def read_report(model: str) -> dict[str, Any]:
    path = paths.metrics_file(model)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro evaluate@{model}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def validation_value(report: dict[str, Any], regime: str, metric: str) -> float | None:
    """A finite validation number of metrics/<model>.json, None where the model has none (not applicable)."""
    value = (report.get(regime) or {}).get("valid", {}).get(metric)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def primary_value(model: str, report: dict[str, Any], policy: PromotionPolicy) -> float:
    value = validation_value(report, policy.regime, policy.metric)
    if value is None:
        known = ", ".join(sorted((report.get(policy.regime) or {}).get("valid", {}))) or "none"
        raise ValueError(
            f"{paths.metrics_file(model)} has no finite {policy.regime}/valid/{policy.metric}; set "
            f"registry.promotion.metric (and .regime) to one it has: {known}"
        )
    return value


def check_policy(policy: PromotionPolicy) -> None:
    if policy.alpha is not None and policy.metric not in PER_USER_METRICS:
        raise ValueError(
            f"registry.promotion.alpha needs per-user values of {policy.metric}, but the evaluate stage writes them "
            f"only for {', '.join(PER_USER_METRICS)}: choose one of those or set alpha: null"
        )


def known_history() -> pl.DataFrame:
    """What the served model knows about its users: the warm train and validation interactions."""
    directory = paths.split_dir(SERVED_REGIME)
    return pl.concat([pl.read_parquet(directory / f"{part}.parquet") for part in ("train", "valid")])


def read_per_user(model: str) -> pl.DataFrame:
    path = per_user_file(model)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro evaluate@{model}` first")
    return pl.read_parquet(path)


def decide_and_apply(client: MlflowClient, uri: str, params: Params, candidates: list[Contender]) -> PromotionDecision:
    """Read the champion, decide and move aliases as one step under the store's lock, and audit it."""
    settings = params.registry
    with registry_lock(uri, settings.lock_timeout_seconds):
        previous = current_champion(client, settings.model_name, settings.promotion)
        decision = decide_promotion(candidates, previous, settings.promotion, settings.require_approval)
        apply_decision(client, settings.model_name, decision)
        before = previous.version if previous else None
        reasons = {outcome.version: outcome.reason for outcome in decision.outcomes}
        if decision.promoted and decision.champion is not None:
            version = decision.champion.version
            audit.record(client, settings.model_name, audit.PROMOTE, version, before, version, reasons[version])
        if decision.pending is not None:
            version = decision.pending.version
            audit.record(client, settings.model_name, audit.PENDING, version, before, before, reasons[version])
    return decision


def main() -> None:
    params = load_params()
    settings, policy = params.registry, params.registry.promotion
    if not params.models:
        raise ValueError("params.yaml has no `models` to register")
    check_policy(policy)
    # Read every input before the first run is logged, so a missing file leaves no half-registered round.
    reports = {name: read_report(name) for name in params.models}
    values = {name: primary_value(name, report, policy) for name, report in reports.items()}
    per_user = {name: read_per_user(name) for name in params.models}
    split = split_fingerprint(paths.SPLITS_DIR)
    dataset = json.loads(paths.DATASET_STATS.read_text(encoding="utf-8")) if paths.DATASET_STATS.exists() else None
    uri = configure_tracking(settings.experiment)
    client = MlflowClient()
    history = known_history()
    candidates, runs = [], {}
    for name in params.models:
        model_dir = paths.model_dir(name, SERVED_REGIME)
        lineage = lineage_tags(name, params, split, read_training(model_dir))
        card = model_card(CardInputs(
            name=name, model_type=read_description(model_dir)["model"], report=reports[name],
            per_user=per_user[name], data_source=params.data.source, dataset=dataset, lineage=lineage,
            bootstrap_samples=params.evaluation.bootstrap_samples, seed=params.seed,
        ))
        registered = log_and_register(name, model_dir, paths.metrics_file(name), history, params.seed,
                                      settings.model_name, lineage, per_user_file(name), card)
        runs[registered.version] = {"model": name, "model_type": registered.model_type, "run_id": registered.run_id,
                                    "lineage": lineage}
        guards = {guard.name: value for guard in policy.guards
                  if (value := validation_value(reports[name], guard.regime, guard.metric)) is not None}
        candidates.append(Contender(version=registered.version, model=name, value=values[name], guards=guards,
                                    split=split, per_user=per_user_values(per_user[name], policy)))
    decision = decide_and_apply(client, uri, params, candidates)
    report = {"tracking_uri": uri, "registered_model": settings.model_name, **decision.to_dict(), "runs": runs}
    paths.PROMOTION_FILE.parent.mkdir(parents=True, exist_ok=True)
    paths.PROMOTION_FILE.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for reason in decision.reasons:
        log.info(reason)


if __name__ == "__main__":
    run_stage("register", main)
