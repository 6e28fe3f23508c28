"""Top-K metrics as pure functions of a hit matrix, so they can be checked by hand.

`hits[u, r]` is True when the item ranked at position r (0-based) for user u is relevant;
`n_relevant[u]` is the number of relevant items of user u (>= 1). Every function returns one value
per user; averaging (and bootstrapping) is the caller's choice.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ACCURACY_METRICS = ("recall", "ndcg", "hr", "mrr", "precision", "map")


def metric_key(metric: str, k: int) -> str:
    return f"{metric}@{k}"


def accuracy_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: Iterable[int]) -> dict[str, np.ndarray]:
    hits = hits.astype(np.float64)
    n_relevant = n_relevant.astype(np.float64)
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    # precision at every cut-off r, used by MAP
    precision_at_r = np.cumsum(hits, axis=1) / ranks
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    ideal_dcg = np.cumsum(discounts)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        if k > hits.shape[1]:
            raise ValueError(f"cut-off {k} exceeds the {hits.shape[1]} ranked items available")
        top = hits[:, :k]
        n_hit = top.sum(axis=1)
        ideal = ideal_dcg[np.minimum(n_relevant, k).astype(int) - 1]
        out[metric_key("recall", k)] = n_hit / n_relevant
        out[metric_key("precision", k)] = n_hit / k
        out[metric_key("hr", k)] = (n_hit > 0).astype(np.float64)
        out[metric_key("mrr", k)] = np.where((first_hit > 0) & (first_hit <= k), 1.0 / np.maximum(first_hit, 1), 0.0)
        out[metric_key("ndcg", k)] = (top * discounts[:k]).sum(axis=1) / ideal
        out[metric_key("map", k)] = (precision_at_r[:, :k] * top).sum(axis=1) / np.minimum(n_relevant, k)
    return out


def beyond_accuracy_metrics(
    top_items: np.ndarray, item_popularity: np.ndarray, n_train_users: int, ks: Iterable[int]
) -> dict[str, float]:
    """Catalogue coverage (share of items recommended to anyone), novelty (mean self-information
    -log2 p(i) with p(i) the share of training users who interacted with i, floored at one user) and
    average popularity (mean training-interaction count of recommended items)."""
    n_items = len(item_popularity)
    probability = np.maximum(item_popularity, 1) / max(n_train_users, 1)
    self_information = -np.log2(probability)
    out: dict[str, float] = {}
    for k in ks:
        top = top_items[:, :k]
        out[metric_key("coverage", k)] = float(len(np.unique(top)) / n_items)
        out[metric_key("novelty", k)] = float(self_information[top].mean())
        out[metric_key("avg_popularity", k)] = float(item_popularity[top].mean())
    return out
