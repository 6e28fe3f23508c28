"""Uncertainty of per-user averages: bootstrap 95% intervals and paired tests between models."""

from __future__ import annotations

import numpy as np
from scipy import stats


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
