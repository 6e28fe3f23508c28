"""What `train.max_seconds` costs: each model trains once without a budget, and the epoch log (which
records the elapsed time after every epoch, validation included) shows where each budget would have
stopped it and the validation NDCG@10 of the best epoch up to there. A budget changes only where a run
ends, never its path, so this is exactly what a budgeted run reaches on a machine of the same speed.

    python benchmarks/time_budget.py --models gmf mlp --variant warm --budgets 60 120 300
    python benchmarks/time_budget.py --models gmf --variant loo --threads 1

Run from the repository root after `dvc repro split` (it reads data/splits). Prints per model: seconds
and epochs without a budget and its best validation NDCG@10, then per budget: the epoch it stops after,
the seconds spent by then, the validation NDCG@10 it keeps and the loss against no budget.
"""

from __future__ import annotations

import argparse
import time

import torch

from pipeline.config import load_params
from pipeline.models.registry import create_model
from pipeline.stages.train import load_regime_data
from pipeline.training.device import resolve_device, seed_everything
from pipeline.training.trainer import IterativeRecommender


def best_within(log: list[dict[str, float]], key: str, budget: float) -> tuple[int, float, float]:
    """(epoch the budget stops after, elapsed seconds then, best `key` up to that epoch)."""
    stop = next((position for position, record in enumerate(log) if record["elapsed"] >= budget), len(log) - 1)
    kept = log[: stop + 1]
    return int(kept[-1]["epoch"]), kept[-1]["elapsed"], max(record[key] for record in kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="models.<name> keys of gradient-trained models")
    parser.add_argument("--variant", default="warm", help="training set: warm, sparse_<f> or loo")
    parser.add_argument("--budgets", nargs="+", type=float, default=[60.0, 120.0, 300.0], help="seconds")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params()
    device = resolve_device(params.train.device)
    data = load_regime_data()
    training = data.training_sets()[args.variant]
    print(f"device={device}, torch threads={torch.get_num_threads()}, {args.variant} train="
          f"{len(training.train):,} interactions, {data.index.n_users} users x {data.index.n_items} items")
    for name in args.models:
        seed_everything(params.seed)
        settings = {**(params.models[name] or {}), "max_seconds": None}
        model = create_model(name, settings, data.index.n_users, data.index.n_items, device, params.seed)
        if not isinstance(model, IterativeRecommender):
            print(f"{name}: closed-form, no time budget applies")
            continue
        started = time.perf_counter()
        model.fit(training.train, training.valid)
        seconds = time.perf_counter() - started
        key = f"valid_{model.config.selection_metric}"
        best = max(record[key] for record in model.training_log)
        print(f"{name}: no budget {seconds:.1f} s, {len(model.training_log)} epochs (stopped: {model.stopped}), "
              f"best {key} {best:.4f} at epoch {model.best_epoch}", flush=True)
        for budget in args.budgets:
            epoch, elapsed, kept = best_within(model.training_log, key, budget)
            print(f"  max_seconds {budget:>6.0f}: stops after epoch {epoch:>3} at {elapsed:7.1f} s, "
                  f"{key} {kept:.4f} ({kept - best:+.4f})", flush=True)


if __name__ == "__main__":
    main()
