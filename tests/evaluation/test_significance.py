"""Uncertainty over items: the delete-one jackknife over a cold-item half's candidates must equal ranking
again without each item, and its interval must reduce to the textbook standard error for a plain mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.evaluation.protocol import EvaluationSet, RankingEvaluation, evaluate_ranking
from pipeline.evaluation.significance import jackknife_interval, leave_one_item_out
from tests.models.planted import planted_split, train


def test_leaving_one_item_out_equals_ranking_again_without_it() -> None:
    split = planted_split()
    model = train("bpr", {"embedding_dim": 8, "epochs": 5, "batch_size": 64}, split.train, split.valid)
    candidates = np.arange(0, split.index.n_items, 3)  # a cold-item half: only these are ranked
    later = split.valid.concat(split.test)

    def evaluation(items: np.ndarray) -> EvaluationSet:
        return EvaluationSet(history=split.train, targets=later.subset(np.isin(later.items, items)), candidates=items)

    whole = evaluation(candidates)
    result = evaluate_ranking(model, whole, [10, 11], 64, split.train.item_counts, split.index.n_users)
    replicates = leave_one_item_out(result, whole, 10)
    again = [evaluate_ranking(model, evaluation(np.setdiff1d(candidates, [item])), [10], 64, split.train.item_counts,
                              split.index.n_users).summary["ndcg@10"] for item in candidates]
    np.testing.assert_allclose(replicates, again, rtol=0, atol=1e-12)
    assert np.ptp(replicates) > 0, "items differ in how much of the figure they carry"


def test_jackknife_interval_of_a_mean_is_the_standard_error_interval() -> None:
    values = np.random.default_rng(0).exponential(size=50)
    leave_one_out_means = (values.sum() - values) / (len(values) - 1)
    low, high = jackknife_interval(leave_one_out_means, values.mean())
    spread = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(len(values))
    assert (low, high) == pytest.approx((values.mean() - spread, values.mean() + spread))


def test_leave_one_item_out_needs_one_item_more_than_the_cut_off() -> None:
    result = RankingEvaluation(users=np.arange(2), top_items=np.zeros((2, 10), dtype=np.int64), per_user={}, summary={})
    with pytest.raises(ValueError, match="needs top-11 lists"):
        leave_one_item_out(result, None, 10)
