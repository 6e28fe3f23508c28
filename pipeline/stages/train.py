"""Stage `train@<model>`: fit one configured model on every training variant and save each.

Variants: `warm` (the model that is registered and serves warm users, cold users and cold items),
`sparse_<f>` (the warm training set thinned to fraction f) and `loo` (leave-last-one-out).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import polars as pl

from pipeline import paths
from pipeline.config import Params, load_params
from pipeline.evaluation.regimes import RegimeData
from pipeline.models.registry import create_model
from pipeline.stages.cli import run_stage
from pipeline.training.adversarial import collapse_summary
from pipeline.training.device import resolve_device, seed_everything
from pipeline.training.trainer import IterativeRecommender

log = logging.getLogger(__name__)
TRAINING_FILE = "training.json"


def load_regime_data() -> RegimeData:
    """The regimes' interactions plus item/user side information for content-aware models."""
    items = pl.read_parquet(paths.ITEMS_FILE) if paths.ITEMS_FILE.exists() else None
    users = pl.read_parquet(paths.USERS_FILE) if paths.USERS_FILE.exists() else None
    return RegimeData.load(paths.SPLITS_DIR, items=items, users=users)


def model_params(params: Params, name: str) -> dict:
    if name not in params.models:
        raise ValueError(f"model '{name}' is not configured in params.yaml (models: {', '.join(params.models)})")
    return params.models[name] or {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a key of the `models` section of params.yaml")
    name = parser.parse_args().model
    params = load_params()
    settings = model_params(params, name)
    device = resolve_device(params.train.device)
    data = load_regime_data()
    for variant, training in data.training_sets().items():
        seed_everything(params.seed)
        model = create_model(name, settings, data.index.n_users, data.index.n_items, device, params.seed)
        checkpoints = paths.checkpoint_dir(name, variant)
        checkpoints.mkdir(parents=True, exist_ok=True)  # an out of the stage even for closed-form models
        if isinstance(model, IterativeRecommender):
            model.checkpoint_dir = checkpoints
        started = time.perf_counter()
        model.fit(training.train, training.valid)
        seconds = time.perf_counter() - started
        directory = paths.model_dir(name, variant)
        model.save(directory)
        data.index.save(directory)
        training_log = getattr(model, "training_log", [])
        # GANs: how many epochs looked mode-collapsed, so a collapsed run says so beside its weights
        record = {"seconds": seconds, "device": str(device), **collapse_summary(training_log), "log": training_log}
        (directory / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        log.info("trained %s/%s on %s in %.1f s", name, variant, device, seconds)


if __name__ == "__main__":
    run_stage("train", main)
