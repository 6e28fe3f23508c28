"""Uncertainty of per-user averages: bootstrap 95% intervals and paired tests between models; and over the
items ranked, where they are few (a cold-item half): a delete-one jackknife over items."""

from __future__ import annotations

import numpy as np
from scipy import stats

from pipeline.evaluation.metrics import accuracy_metrics, metric_key
from pipeline.evaluation.protocol import EvaluationSet, RankingEvaluation, target_hits


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


def leave_one_item_out(result: RankingEvaluation, evaluation_set: EvaluationSet, k: int) -> np.ndarray:
    """NDCG@k averaged over users once each candidate item is removed from the ranking and the targets
    (the delete-one jackknife over items), one value per candidate of `evaluation_set`.

    `result` must hold top-(k + 1) lists, so that each list still has k items after one is removed. A user
    whose only target was the removed item leaves the average, as the evaluation skips users without
    targets: the values of two models ranking the same set stay paired item by item."""
    top_items, users = result.top_items, result.users
    if top_items.shape[1] <= k:
        raise ValueError(f"the jackknife over items needs top-{k + 1} lists, got top-{top_items.shape[1]}")
    targets = evaluation_set.targets.csr
    hits = target_hits(targets, users, top_items)
    n_relevant = np.diff(targets.indptr)[users]
    block = targets[users].tocsc()
    means = np.empty(len(evaluation_set.candidates))
    for position, item in enumerate(evaluation_set.candidates):
        order = np.argsort(top_items == item, axis=1, kind="stable")[:, :k]  # the first k positions kept
        remaining = n_relevant - (block[:, item].toarray().ravel() > 0)
        rows = remaining > 0
        shifted = np.take_along_axis(hits, order, axis=1)[rows]
        means[position] = accuracy_metrics(shifted, remaining[rows], [k])[metric_key("ndcg", k)].mean()
    return means


def jackknife_error(replicates: np.ndarray) -> float:
    """The delete-one jackknife standard error of the statistic whose `replicates` leave one unit out each."""
    n = len(replicates)
    return float(np.sqrt((n - 1) / n * np.sum((replicates - replicates.mean()) ** 2)))


def jackknife_interval(replicates: np.ndarray, estimate: float, level: float = 0.95) -> tuple[float, float]:
    """Normal interval around `estimate` with the jackknife standard error of its `replicates`."""
    spread = stats.norm.ppf(0.5 + level / 2) * jackknife_error(replicates)
    return float(estimate - spread), float(estimate + spread)


def jackknife_p_value(replicates: np.ndarray, estimate: float) -> float:
    """Two-sided normal p-value of `estimate` (a difference of two models) being zero, with the jackknife
    standard error of its `replicates`; 1.0 when the two models agree without a left-out unit changing it."""
    error = jackknife_error(replicates)
    if error == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2 * stats.norm.sf(abs(estimate) / error))
