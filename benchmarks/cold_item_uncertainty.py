"""How much a cold-item comparison can say: the difference of two models' NDCG@10 on each cold-item half,
with its uncertainty over users (what the leaderboard's interval and paired test measure) and over items.

    python benchmarks/cold_item_uncertainty.py gar content
    python benchmarks/cold_item_uncertainty.py gar content --models-dir reports/gan_regimes/models

Loads the two trained `warm` models (the train stage's models/ by default) and ranks each cold-item half's
candidates with the evaluate stage's code. A cold-item half holds about a hundred items, so a few popular
new items carry most of its NDCG: a paired test over thousands of users treats them as independent
evidence and can call a difference significant that another draw of the items would reverse. The delete-
one jackknife over items (pipeline/evaluation/significance.py) gives the interval that item sampling
alone implies, and the number of items a half would need for the observed difference to clear it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

from pipeline import paths
from pipeline.config import load_params
from pipeline.evaluation.protocol import evaluate_ranking
from pipeline.evaluation.significance import (
    bootstrap_interval,
    jackknife_error,
    jackknife_interval,
    jackknife_p_value,
    leave_one_item_out,
    paired_p_value,
)
from pipeline.models.registry import load_model
from pipeline.stages.train import load_regime_data

K = 10


def per_item_figures(model, evaluation_set, item_counts: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user NDCG@K on the half, and the users' mean NDCG@K with each candidate item left out."""
    result = evaluate_ranking(model, evaluation_set, [K, K + 1], 1024, item_counts, n_users)
    return result.per_user[f"ndcg@{K}"], leave_one_item_out(result, evaluation_set, K)


def compare(names: tuple[str, str], models_dir: Path, seed: int) -> list[dict]:
    data = load_regime_data()
    item_counts = data.training_sets()["warm"].train.item_counts
    models = [load_model(models_dir / name / "warm") for name in names]
    rows = []
    for part, evaluation_set in data.cold_item_sets().items():
        (users_a, items_a), (users_b, items_b) = (per_item_figures(model, evaluation_set, item_counts,
                                                                   data.index.n_users) for model in models)
        difference = float(users_a.mean() - users_b.mean())
        user_low, user_high = bootstrap_interval(users_a - users_b, 2000, seed)
        item_low, item_high = jackknife_interval(items_a - items_b, difference)
        item_error = jackknife_error(items_a - items_b)
        n_items = len(evaluation_set.candidates)
        rows.append({
            "part": part, "items": n_items, "users": len(users_a),
            names[0]: round(float(users_a.mean()), 4), names[1]: round(float(users_b.mean()), 4),
            "difference": round(difference, 4),
            "users_interval": [round(user_low, 4), round(user_high, 4)],
            "users_wilcoxon_p": float(f"{paired_p_value(users_a, users_b):.3g}"),
            "items_interval": [round(item_low, 4), round(item_high, 4)],
            "items_z_p": float(f"{jackknife_p_value(items_a - items_b, difference):.3g}"),
            # the jackknife error shrinks as 1/sqrt(items): the half size at which |difference| = 1.96 errors
            "items_needed": (int(np.ceil(n_items * (stats.norm.ppf(0.975) * item_error / abs(difference)) ** 2))
                             if difference else None),  # no difference to resolve
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs=2, help="two models with cold-item scores, e.g. gar content")
    parser.add_argument("--models-dir", type=Path, default=paths.MODELS_DIR,
                        help="where <model>/warm was saved (the train stage's models/ by default)")
    args = parser.parse_args()
    for row in compare(tuple(args.models), args.models_dir, load_params().seed):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
