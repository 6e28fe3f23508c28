"""Cold-start validation figures: what cold-start settings (fold-in, history prior, ID dropout) are tuned on.

    python benchmarks/cold_start_validation.py --models popularity content twotower
    python benchmarks/cold_start_validation.py --models twotower --set history_prior=3
    python benchmarks/cold_start_validation.py --models text_cnn --seed 1

Reads the pipeline's own regime files (`dvc repro split` first), trains each model on the `warm` variant
with its params.yaml settings (`--set key=value` overrides, values parsed as YAML), folds in every cold
user per k and prints NDCG@10 on the VALIDATION cold users and cold items only; the test halves stay
untouched, as in the evaluate stage's model selection.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import yaml

from pipeline.config import load_params
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.evaluation.regimes import COLD_ITEMS
from pipeline.models.registry import create_model
from pipeline.stages.train import load_regime_data
from pipeline.training.device import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=None, help="instead of params.yaml's, to see seed variance")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    params = load_params()
    seed = params.seed if args.seed is None else args.seed
    data = load_regime_data()
    train = data.training_sets()["warm"]

    def ndcg(model, evaluation_set: EvaluationSet) -> float:
        result = evaluate_ranking(model, evaluation_set, [10], 1024, train.train.item_counts, data.index.n_users)
        return round(result.summary["ndcg@10"], 4)

    for name in args.models:
        seed_everything(seed)
        model = create_model(name, {**(params.models.get(name) or {}), **overrides}, data.index.n_users,
                             data.index.n_items, "cpu", seed)
        started = time.perf_counter()
        model.fit(train.train, train.valid)
        row = {"model": name, "set": overrides, "seed": seed, "train_seconds": round(time.perf_counter() - started, 1),
               "warm_valid": ndcg(model, data.warm_like_sets("warm")["valid"])}
        trained = copy.deepcopy(model.module.state_dict()) if getattr(model, "module", None) is not None else None
        for regime, cold_users in data.cold_user_sets().items():
            if trained is not None:
                model.module.load_state_dict(trained)  # fold-in must not carry over between k
            model.fold_in(cold_users.users, cold_users.history)
            row[regime] = ndcg(model, cold_users.parts["valid"])
        cold_items = data.cold_item_sets()
        if "valid" in cold_items and COLD_ITEMS not in model.unsupported_regimes:
            if trained is not None:
                model.module.load_state_dict(trained)
            row[COLD_ITEMS] = ndcg(model, cold_items["valid"])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
