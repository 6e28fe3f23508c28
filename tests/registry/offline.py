"""What the offline evaluation says a served model must answer, computed with the evaluation code."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.interactions import Interactions, SplitData
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.registry import load_model


def known_history(split: SplitData) -> Interactions:
    """What the served model knows: train + validation (pipeline.stages.register.known_history)."""
    return split.train.concat(split.valid)


def revealed_items(split: SplitData, user: str, count: int) -> list[str]:
    """The first `count` held-out interactions of a cold user (in time order)."""
    row = split.index.user_index([user])[0]
    return split.index.item_ids[split.test.items[split.test.users == row][:count]].tolist()


def offline_cold_user_ranking(model_dir: Path, split: SplitData, user: str, revealed: list[str], k: int) -> list[str]:
    """The cold-user regime's top-k for `user` (an index row without history) from `revealed`, as
    pipeline/stages/evaluate.py computes it: a fresh model folded in, known + revealed history known and
    masked, the warm items ranked."""
    row = split.index.user_index([user])
    items = split.index.item_index(revealed)
    revealed_part = Interactions(np.repeat(row, len(items)), items, 2_000_000 + np.arange(len(items)),
                                 np.full(len(items), np.nan, dtype=np.float32), split.index.n_users,
                                 split.index.n_items, split.train.side)
    known = known_history(split)
    history = known.concat(revealed_part)
    model = load_model(model_dir)
    model.fold_in(row, history)
    targets = split.test.subset(split.test.users == row[0])
    evaluation = EvaluationSet(history, targets, candidates=np.flatnonzero(known.item_counts > 0))
    result = evaluate_ranking(model, evaluation, [k], 64, known.item_counts, split.index.n_users)
    return split.index.item_ids[result.top_items[0]].tolist()


def most_popular(split: SplitData, k: int) -> list[str]:
    return split.index.item_ids[np.argsort(-known_history(split).item_counts, kind="stable")[:k]].tolist()
