"""Synthetic data with a planted taste structure, for model tests that must be able to fail.

Users belong to one of `N_GROUPS` groups and interact only with their group's items; within a group
item popularity is skewed, so popularity is a real baseline (it knows which items are popular) and
only a model that learned the groups beats it by a wide margin. Items carry their group as a
category and users as an attribute, so content-aware models can serve new users and new items.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions, SplitData
from pipeline.data.splitting import temporal_split
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.base import Recommender
from pipeline.models.registry import create_model

N_GROUPS, ITEMS_PER_GROUP, USERS_PER_GROUP, HISTORY = 4, 15, 40, 10
WORDS = ("red", "blue", "green", "gold", "iron", "star", "moon", "rain")


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, ITEMS_PER_GROUP + 1) ** 0.8
    rows = []
    for user in range(N_GROUPS * USERS_PER_GROUP):
        group = user % N_GROUPS
        chosen = rng.choice(ITEMS_PER_GROUP, size=HISTORY, replace=False, p=popularity / popularity.sum())
        rows += [(f"u{user:03d}", f"i{group * ITEMS_PER_GROUP + item:03d}", 1.0, t) for t, item in enumerate(chosen)]
    interactions = pl.DataFrame(rows, schema=["user_id", "item_id", "rating", "timestamp"], orient="row")
    items = pl.DataFrame({
        "item_id": [f"i{item:03d}" for item in range(N_GROUPS * ITEMS_PER_GROUP)],
        "title": [" ".join(rng.choice(WORDS, size=2)) for _ in range(N_GROUPS * ITEMS_PER_GROUP)],
        "genres": [[f"genre{item // ITEMS_PER_GROUP}"] for item in range(N_GROUPS * ITEMS_PER_GROUP)],
    })
    users = pl.DataFrame({
        "user_id": [f"u{user:03d}" for user in range(N_GROUPS * USERS_PER_GROUP)],
        "segment": [f"s{user % N_GROUPS}" for user in range(N_GROUPS * USERS_PER_GROUP)],
    })
    return interactions, items, users


def planted_split(seed: int = 0) -> SplitData:
    """Per-user temporal split (8 train, 1 valid, 1 test per user) with item and user side information."""
    interactions, items, users = _frames(seed)
    parts = temporal_split(interactions, 0.1, 0.1)
    index = IdIndex.from_frames(*parts.values())
    side = build_side_information(index, items, users)
    interactions = {part: Interactions.from_frame(frame, index, side) for part, frame in parts.items()}
    return SplitData(index=index, **interactions)


def ndcg_at_10(model: Recommender, evaluation: EvaluationSet, train: Interactions) -> float:
    result = evaluate_ranking(model, evaluation, [10], 256, train.item_counts, train.n_users)
    return result.summary["ndcg@10"]


def train(name: str, params: dict, train_part: Interactions, valid_part: Interactions, seed: int = 0) -> Recommender:
    torch.manual_seed(seed)
    model = create_model(name, params, train_part.n_users, train_part.n_items, "cpu", seed=seed)
    return model.fit(train_part, valid_part)


def warm_test(split: SplitData) -> EvaluationSet:
    return EvaluationSet(history=split.train.concat(split.valid), targets=split.test)


class ColdUsers:
    """A quarter of the users held out of training entirely; each reveals their first `k` interactions
    (in time order) and is tested on the rest, with the revealed ones masked."""

    def __init__(self, split: SplitData, seed: int = 0):
        full = split.train.concat(split.valid).concat(split.test)
        rng = np.random.default_rng(seed)
        self.users = np.sort(rng.choice(full.n_users, size=full.n_users // 4, replace=False))
        cold = np.isin(full.users, self.users)
        self.train = split.train.subset(~np.isin(split.train.users, self.users))
        self.valid = split.valid.subset(~np.isin(split.valid.users, self.users))
        order = full.time_order
        self._position = np.empty(len(full), dtype=np.int64)
        self._position[order] = np.arange(len(full)) - full.user_offsets[full.users[order]]
        self._full, self._cold = full, cold

    def evaluation(self, k: int) -> EvaluationSet:
        revealed = self._full.subset(self._cold & (self._position < k))
        targets = self._full.subset(self._cold & (self._position >= k))
        return EvaluationSet(history=self.train.concat(revealed), targets=targets)

    def ndcg_after_fold_in(self, model: Recommender, k: int) -> float:
        evaluation = self.evaluation(k)
        model.fold_in(self.users, evaluation.history)
        return ndcg_at_10(model, evaluation, self.train)
