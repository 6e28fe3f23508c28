"""Evaluation protocol: which history a model sees, which items are masked, what counts as relevant.

Warm regime (DESIGN.md section 5): validation ranks with the training history known and masked;
test ranks with training + validation known and masked. Users with no target item are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.data.interactions import Interactions, SplitData
from pipeline.evaluation.metrics import accuracy_metrics, beyond_accuracy_metrics
from pipeline.evaluation.ranking import ITEM_CHUNK_SIZE, iter_top_k
from pipeline.models.base import Recommender, ScoringContext


@dataclass(frozen=True)
class EvaluationSet:
    """One thing to score: the known history (also masked), the held-out targets and, when not every
    item may be recommended (cold items are ranked among cold items only), the candidate items."""

    history: Interactions
    targets: Interactions
    candidates: np.ndarray | None = None


@dataclass(frozen=True)
class RankingEvaluation:
    users: np.ndarray
    top_items: np.ndarray
    per_user: dict[str, np.ndarray]
    summary: dict[str, float]


def warm_sets(split: SplitData) -> dict[str, EvaluationSet]:
    return {
        "valid": EvaluationSet(history=split.train, targets=split.valid),
        "test": EvaluationSet(history=split.train.concat(split.valid), targets=split.test),
    }


def evaluate_ranking(
    model: Recommender,
    evaluation_set: EvaluationSet,
    ks: Iterable[int],
    batch_size: int,
    item_popularity: np.ndarray,
    n_train_users: int,
    item_chunk_size: int = ITEM_CHUNK_SIZE,
) -> RankingEvaluation:
    """Rank the full catalogue for every user with targets and compute every metric."""
    ks = sorted(ks)
    target_matrix = evaluation_set.targets.csr
    history_matrix = evaluation_set.history.csr
    users = np.flatnonzero(np.diff(target_matrix.indptr) > 0)
    context = ScoringContext(history=evaluation_set.history)
    top_parts, hit_parts = [], []
    top = iter_top_k(model, users, context, history_matrix, max(ks), batch_size, evaluation_set.candidates,
                     item_chunk_size)
    for batch, items in top:
        # an item both known and held out (a repeat) can never be recommended: it is masked
        hit_parts.append(target_hits(target_matrix, batch, items))
        top_parts.append(items)
    top_items = np.concatenate(top_parts)
    hits = np.concatenate(hit_parts)
    n_relevant = np.diff(target_matrix.indptr)[users]
    per_user = accuracy_metrics(hits, n_relevant, ks)
    summary = {key: float(values.mean()) for key, values in per_user.items()}
    summary.update(beyond_accuracy_metrics(top_items, item_popularity, n_train_users, ks))
    summary["n_users"] = float(len(users))
    return RankingEvaluation(users=users, top_items=top_items, per_user=per_user, summary=summary)


def target_hits(targets: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """hits[u, r]: is items[u, r] a held-out target of users[u]? Looked up in the sparse targets, so the
    cost is the batch's targets plus its top-K, never batch x catalogue."""
    block = targets[users]
    rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(block.indptr))
    target_keys = np.unique(rows[block.data > 0] * targets.shape[1] + block.indices[block.data > 0])
    ranked_keys = np.arange(len(users), dtype=np.int64)[:, None] * targets.shape[1] + items
    return np.isin(ranked_keys, target_keys)


def validation_metric(
    model: Recommender, train: Interactions, valid: Interactions, metric: str = "ndcg@10", batch_size: int = 1024
) -> float:
    """The early-stopping and model-selection signal: `metric` on validation with train masked."""
    k = int(metric.split("@")[1])
    result = evaluate_ranking(
        model,
        EvaluationSet(history=train, targets=valid),
        ks=[k],
        batch_size=batch_size,
        item_popularity=train.item_counts,
        n_train_users=train.n_users,
    )
    return result.summary[metric]
