"""Uncertainty of per-user averages: bootstrap 95% intervals and paired tests between models; and over the
items ranked, where they are few (a cold-item half): a delete-one jackknife over items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import stats

from pipeline.evaluation.metrics import accuracy_metrics, metric_key


def bootstrap_interval(values: np.ndarray, samples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap over users of the mean."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_p_value(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank test on per-user differences (no normality assumption); 1.0 when the two
    models agree on every user. `alternative="greater"` asks whether `a` is better than `b` (promotion)."""
    differences = a - b
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(a, b, zero_method="zsplit", alternative=alternative).pvalue)


def leave_one_item_out(top_items: np.ndarray, hits: np.ndarray, targets: sp.csr_matrix, users: np.ndarray,
                       candidates: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k averaged over users once each candidate item is removed from the ranking and the targets
    (the delete-one jackknife over items), one value per candidate.

    `top_items` / `hits` [users, >= k + 1]: each user's ranked candidates and whether each is a target, so
    that the list still has k items after one is removed. A user whose only target was the removed item
    leaves the average, as the evaluation skips users without targets: the averages of two models over
    the same `users` and `targets` stay paired item by item."""
    if top_items.shape[1] <= k:
        raise ValueError(f"the jackknife over items needs top-{k + 1} lists, got top-{top_items.shape[1]}")
    n_relevant = np.diff(targets.indptr)[users]
    block = targets[users].tocsc()
    means = np.empty(len(candidates))
    for position, item in enumerate(candidates):
        kept = top_items != item
        order = np.argsort(~kept, axis=1, kind="stable")[:, :k]  # the first k positions still kept
        remaining = n_relevant - (block[:, item].toarray().ravel() > 0)
        rows = remaining > 0
        shifted = np.take_along_axis(hits, order, axis=1)[rows]
        means[position] = accuracy_metrics(shifted, remaining[rows], [k])[metric_key("ndcg", k)].mean()
    return means


def jackknife_interval(replicates: np.ndarray, estimate: float, level: float = 0.95) -> tuple[float, float]:
    """Normal interval around `estimate` with the delete-one jackknife standard error of its `replicates`."""
    n = len(replicates)
    error = np.sqrt((n - 1) / n * np.sum((replicates - replicates.mean()) ** 2))
    spread = stats.norm.ppf(0.5 + level / 2) * error
    return float(estimate - spread), float(estimate + spread)
