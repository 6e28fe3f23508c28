"""Stage `train@<model>`: fit one configured model on every training variant and save each.

Variants: `warm` (the model that is registered and serves warm users, cold users and cold items),
`sparse_<f>` (the warm training set thinned to fraction f) and `loo` (leave-last-one-out).

Started by `torchrun --nproc_per_node N -m pipeline.stages.train <model>`, the N processes train each
variant together (data-parallel, pipeline/training/distributed.py) and rank 0 writes the results.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import polars as pl
import torch

from pipeline import paths
from pipeline.config import Params, load_params
from pipeline.evaluation.regimes import RegimeData
from pipeline.models.base import Recommender
from pipeline.models.registry import create_model
from pipeline.stages.cli import run_stage
from pipeline.training import distributed
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


def training_record(model: Recommender, seconds: float, device: torch.device) -> dict:
    """What training.json keeps beside the model: time, where it ran, and for gradient-trained models why
    training ended (`stopped`: patience, time or epochs), the epoch whose weights were kept, the epoch log."""
    record: dict = {"seconds": seconds, "device": str(device), "processes": distributed.world_size()}
    if isinstance(model, IterativeRecommender):
        record |= {"stopped": model.stopped, "best_epoch": model.best_epoch, "max_seconds": model.config.max_seconds}
    training_log = getattr(model, "training_log", [])
    # GANs: how many epochs looked mode-collapsed, so a collapsed run says so beside its weights
    return record | collapse_summary(training_log) | {"log": training_log}


def train_variants(name: str, params: Params, device: torch.device) -> None:
    settings = model_params(params, name)
    data = load_regime_data()
    for variant, training in data.training_sets().items():
        seed_everything(params.seed)
        model = create_model(name, settings, data.index.n_users, data.index.n_items, device, params.seed,
                             max_seconds=params.train.max_seconds)
        checkpoints = paths.checkpoint_dir(name, variant)
        checkpoints.mkdir(parents=True, exist_ok=True)  # an out of the stage even for closed-form models
        if isinstance(model, IterativeRecommender):
            model.checkpoint_dir = checkpoints
        started = time.perf_counter()
        model.fit(training.train, training.valid)
        seconds = time.perf_counter() - started
        if not distributed.is_rank_zero():
            continue
        directory = paths.model_dir(name, variant)
        model.save(directory)
        data.index.save(directory)
        record = training_record(model, seconds, device)
        (directory / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        stop = f", stopped: {record['stopped']} (best epoch {record['best_epoch']})" if "stopped" in record else ""
        log.info("trained %s/%s on %s in %.1f s%s", name, variant, device, seconds, stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a key of the `models` section of params.yaml")
    name = parser.parse_args().model
    params = load_params()
    device = resolve_device(params.train.device)
    if not distributed.launched_by_torchrun():
        train_variants(name, params, device)
        return
    device = distributed.join_process_group(device)
    try:
        train_variants(name, params, device)
    finally:
        distributed.leave_process_group()


if __name__ == "__main__":
    run_stage("train", main)
