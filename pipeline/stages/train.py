"""Stage `train@<model>`: fit one configured model on the warm training split and save it."""

from __future__ import annotations

import argparse
import json
import logging
import time

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.interactions import SplitData
from pipeline.models.registry import create_model
from pipeline.stages.cli import run_stage
from pipeline.training.device import resolve_device, seed_everything
from pipeline.training.trainer import IterativeRecommender

log = logging.getLogger(__name__)
TRAINING_FILE = "training.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a key of the `models` section of params.yaml")
    name = parser.parse_args().model
    params = load_params()
    if name not in params.models:
        raise ValueError(f"model '{name}' is not configured in params.yaml (models: {', '.join(params.models)})")
    seed_everything(params.seed)
    device = resolve_device(params.train.device)
    split = SplitData.load(paths.split_dir("warm"))
    model = create_model(name, params.models[name] or {}, split.index.n_users, split.index.n_items, device, params.seed)
    checkpoints = paths.checkpoint_dir(name)
    checkpoints.mkdir(parents=True, exist_ok=True)  # an out of the stage even for models trained in closed form
    if isinstance(model, IterativeRecommender):
        model.checkpoint_dir = checkpoints
    started = time.perf_counter()
    model.fit(split.train, split.valid)
    seconds = time.perf_counter() - started
    directory = paths.model_dir(name)
    model.save(directory)
    split.index.save(directory)
    training = {"seconds": seconds, "device": str(device), "log": getattr(model, "training_log", [])}
    (directory / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
    log.info("trained %s on %s in %.1f s -> %s", name, device, seconds, directory)


if __name__ == "__main__":
    run_stage("train", main)
