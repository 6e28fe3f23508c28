"""How much a new user's first k items say beyond popularity, on the pipeline's own cold-user regime.

    python benchmarks/cold_user_headroom.py
    python benchmarks/cold_user_headroom.py --priors 1 10 100 1000 10000

A model serves a new user better than popularity only by what the revealed items predict about the rest
of the history. This measures that without any model of ours: it ranks items by what warm users did after
the same first k interactions (the rest of their training history), plus `prior` x k pseudo-counts spread
like popularity. The prior is chosen per k on the VALIDATION cold users; then, per k and half, it prints
popularity's and this estimate's NDCG@10, their paired difference with a 95% bootstrap interval and the
Wilcoxon p, and `users_to_resolve`: how many cold users that half would need for the interval of a
difference this size to exclude zero (the half-width shrinks as 1 / sqrt(users)).

Run from the repository root after `dvc repro split` (it reads data/splits).
"""

from __future__ import annotations

import argparse
import json
from typing import Self

import numpy as np
import scipy.sparse as sp
import torch

from pipeline.config import load_params
from pipeline.data.interactions import Interactions
from pipeline.data.regimes import cold_users_name
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.evaluation.significance import bootstrap_interval, paired_p_value
from pipeline.models.base import ModelConfig, Recommender, ScoringContext
from pipeline.models.popularity import Popularity
from pipeline.stages.train import load_regime_data


class FollowUpsConfig(ModelConfig):
    reveal: int


class FollowUps(Recommender):
    """Counts of what warm users interacted with after their first `reveal` interactions, per first item,
    plus `prior` x (revealed items) pseudo-counts spread like popularity. The prior only enters scoring, so
    one fit serves every prior tried."""

    name = "followups"
    Config = FollowUpsConfig
    config: FollowUpsConfig
    prior: float = 0.0

    def build_module(self) -> torch.nn.Module:
        return torch.nn.Module()

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        firsts, laters = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for user in range(train.n_users):
            items = train.items[train.time_order[train.user_offsets[user] : train.user_offsets[user + 1]]]
            if len(items) > self.config.reveal:
                first, later = items[: self.config.reveal], items[self.config.reveal :]
                firsts.append(np.repeat(first, len(later)))
                laters.append(np.tile(later, len(first)))
        first_items, later_items = np.concatenate(firsts), np.concatenate(laters)
        self.follow_ups = sp.csr_matrix((np.ones(len(first_items)), (first_items, later_items)),
                                        shape=(self.n_items, self.n_items))
        counts = train.item_counts.astype(np.float64)
        self.popularity = counts / counts.sum()
        return self

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        revealed = context.history.csr[users.numpy()]
        counts = np.asarray((revealed @ self.follow_ups).todense())
        prior = self.prior * np.asarray(revealed.sum(axis=1)) * self.popularity[None, :]
        return torch.from_numpy(counts + prior).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--priors", nargs="+", type=float, default=[1, 10, 100, 1000, 10000])
    args = parser.parse_args()
    params = load_params()
    data = load_regime_data()
    train = data.warm["train"]
    popularity = Popularity(Popularity.Config(), data.index.n_users, data.index.n_items).fit(train)

    def per_user_ndcg(model: Recommender, evaluation_set: EvaluationSet) -> np.ndarray:
        result = evaluate_ranking(model, evaluation_set, [10], params.evaluation.batch_size, train.item_counts,
                                  data.index.n_users)
        return result.per_user["ndcg@10"]

    cold_user_sets = data.cold_user_sets()
    for k in sorted(data.cold_users):
        regime = cold_users_name(k)
        cold_users = cold_user_sets[regime]
        valid = cold_users.parts.get("valid")
        if valid is None:
            raise SystemExit(f"{regime} has no validation cold users to choose the prior on: set split.cold_valid_share > 0")
        model = FollowUps(FollowUpsConfig(reveal=k), data.index.n_users, data.index.n_items).fit(train)

        def valid_ndcg(prior: float, model: FollowUps = model, valid: EvaluationSet = valid) -> float:
            model.prior = prior
            return float(per_user_ndcg(model, valid).mean())

        model.prior = max(args.priors, key=valid_ndcg)
        for part, evaluation_set in cold_users.parts.items():
            baseline = per_user_ndcg(popularity, evaluation_set)
            estimate = per_user_ndcg(model, evaluation_set)
            difference = estimate - baseline
            low, high = bootstrap_interval(difference, params.evaluation.bootstrap_samples, params.seed)
            gap = abs(float(difference.mean()))
            users_to_resolve = int(np.ceil(len(difference) * ((high - low) / 2 / gap) ** 2)) if gap > 0 else None
            print(json.dumps({
                "regime": regime, "part": part, "users": len(difference), "prior": model.prior,
                "popularity": round(float(baseline.mean()), 4), "follow_ups": round(float(estimate.mean()), 4),
                "difference": round(float(difference.mean()), 4),
                "interval": [round(low, 4), round(high, 4)], "p": round(paired_p_value(estimate, baseline), 3),
                "users_to_resolve": users_to_resolve,
            }), flush=True)


if __name__ == "__main__":
    main()
