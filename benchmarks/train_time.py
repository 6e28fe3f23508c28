"""Training time of each configured model on the warm split, against the 2-minute-per-model budget.

    python benchmarks/train_time.py                      # every model in params.yaml, on `train.device`
    python benchmarks/train_time.py --models ease bpr --device cuda --repeat 3
    python benchmarks/train_time.py --models cfgan irgan --test   # also warm test NDCG@10 (reporting only)

Run from the repository root after `dvc repro split` (it reads data/splits). Prints seconds per model,
the ratio to the budget, warm validation NDCG@10 (a sanity check that the timed run trained properly),
and epochs run for gradient-trained models.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from pipeline.config import load_params
from pipeline.evaluation.protocol import evaluate_ranking, validation_metric
from pipeline.evaluation.regimes import WARM, RegimeData
from pipeline.models.base import Recommender
from pipeline.models.registry import create_model
from pipeline.stages.train import load_regime_data
from pipeline.training.device import resolve_device, seed_everything

BUDGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="models.<name> keys (default: all in params.yaml)")
    parser.add_argument("--device", help="override train.device (auto, cpu, cuda)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per model; the median is reported")
    parser.add_argument("--test", action="store_true", help="also print warm test NDCG@10 (never for selection)")
    args = parser.parse_args()
    params = load_params()
    device = resolve_device(args.device or params.train.device)
    data = load_regime_data()
    training = data.training_sets()["warm"]
    names = args.models or list(params.models)
    print(f"device={device} ({torch.cuda.get_device_name(0) if device.type == 'cuda' else platform.processor() or 'cpu'}), "
          f"torch threads={torch.get_num_threads()}, warm train={len(training.train):,} interactions")
    print(f"{'model':<16}{'seconds':>10}{'/budget':>9}{'epochs':>8}{'valid ndcg@10':>15}"
          + (f"{'test ndcg@10':>14}" if args.test else ""))
    for name in names:
        timings = []
        for _ in range(args.repeat):
            seed_everything(params.seed)
            model = create_model(name, params.models[name] or {}, data.index.n_users, data.index.n_items, device, params.seed)
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            model.fit(training.train, training.valid)
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - started)
        seconds = statistics.median(timings)
        epochs = len(getattr(model, "training_log", [])) or "-"
        score = validation_metric(model, training.train, training.valid)
        test = f"{warm_test_ndcg(model, data):>14.4f}" if args.test else ""
        print(f"{name:<16}{seconds:>10.1f}{seconds / BUDGET_SECONDS:>9.2f}{epochs!s:>8}{score:>15.4f}{test}", flush=True)


def warm_test_ndcg(model: Recommender, data: RegimeData) -> float:
    """Warm test NDCG@10 as the evaluate stage computes it (train + valid known and masked)."""
    test = data.warm_like_sets(WARM)["test"]
    train = data.warm["train"]
    return evaluate_ranking(model, test, [10], 1024, train.item_counts, train.n_users).summary["ndcg@10"]


if __name__ == "__main__":
    main()
