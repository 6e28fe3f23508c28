"""Metric functions against hand-computed values and an independent loop implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pipeline.data.interactions import Interactions
from pipeline.evaluation.metrics import accuracy_metrics, beyond_accuracy_metrics
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.base import ModelConfig, Recommender, ScoringContext


def test_accuracy_metrics_match_hand_computed_values() -> None:
    hits = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    n_relevant = np.array([3, 1, 2])
    m = accuracy_metrics(hits, n_relevant, ks=[5, 2])
    idcg_3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["recall@5"] == pytest.approx([2 / 3, 1.0, 0.0])
    assert m["precision@5"] == pytest.approx([0.4, 0.2, 0.0])
    assert m["hr@5"] == pytest.approx([1.0, 1.0, 0.0])
    assert m["mrr@5"] == pytest.approx([1.0, 0.25, 0.0])
    assert m["ndcg@5"] == pytest.approx([(1 + 0.5) / idcg_3, 1 / math.log2(5), 0.0])
    assert m["map@5"] == pytest.approx([(1 + 2 / 3) / 3, 0.25, 0.0])
    # at K=2 only the first hit of user 0 counts; the ideal DCG has two slots
    assert m["ndcg@2"] == pytest.approx([1 / (1 + 1 / math.log2(3)), 0.0, 0.0])
    assert m["recall@2"] == pytest.approx([1 / 3, 0.0, 0.0])
    assert m["map@2"] == pytest.approx([0.5, 0.0, 0.0])


def test_cutoff_beyond_ranked_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        accuracy_metrics(np.zeros((1, 3), dtype=bool), np.array([1]), ks=[5])


def test_beyond_accuracy_metrics() -> None:
    popularity = np.array([8.0, 2.0, 0.0, 1.0])
    top = np.array([[0, 1], [0, 2]])
    m = beyond_accuracy_metrics(top, popularity, n_train_users=8, ks=[2])
    assert m["coverage@2"] == pytest.approx(3 / 4)
    # self-information: item0 log2(8/8)=0, item1 log2(8/2)=2, item2 floored at one user: log2(8)=3
    assert m["novelty@2"] == pytest.approx((0 + 2 + 0 + 3) / 4)
    assert m["avg_popularity@2"] == pytest.approx((8 + 2 + 8 + 0) / 4)


class FixedScores(Recommender):
    """A model whose scores are a given matrix: isolates ranking and metrics from learning."""

    name = "fixed"

    def __init__(self, scores: np.ndarray):
        self.scores = torch.from_numpy(scores)
        super().__init__(ModelConfig(), scores.shape[0], scores.shape[1])

    def build_module(self) -> torch.nn.Module:
        return torch.nn.Module()

    def fit(self, train, valid=None):  # pragma: no cover - never trained
        return self

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return self.scores[users]


def interactions(matrix: sp.csr_matrix) -> Interactions:
    coo = matrix.tocoo()
    return Interactions(coo.row.astype(np.int64), coo.col.astype(np.int64), np.zeros(coo.nnz, dtype=np.int64),
                        np.full(coo.nnz, np.nan, dtype=np.float32), matrix.shape[0], matrix.shape[1])


def reference_ndcg_recall(scores: np.ndarray, history: sp.csr_matrix, targets: sp.csr_matrix, k: int) -> tuple[float, float]:
    """Straightforward per-user loops, written independently of pipeline.evaluation."""
    ndcgs, recalls = [], []
    for user in range(scores.shape[0]):
        relevant = set(targets[user].indices)
        if not relevant:
            continue
        known = set(history[user].indices)
        ranked = [i for i in sorted(range(scores.shape[1]), key=lambda i: (-scores[user, i], i)) if i not in known][:k]
        dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked) if item in relevant)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
        ndcgs.append(dcg / ideal)
        recalls.append(len(relevant & set(ranked)) / len(relevant))
    return float(np.mean(ndcgs)), float(np.mean(recalls))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_ranking_matches_independent_implementation_for_any_batch_size(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    # rounded scores create ties, which must be broken the same way in every batch layout
    scores = np.round(rng.random((n_users, n_items)), 1).astype(np.float32)
    history = sp.random(n_users, n_items, density=0.2, format="csr", random_state=seed)
    targets = sp.random(n_users, n_items, density=0.1, format="csr", random_state=seed + 100)
    targets = (targets - targets.multiply(history > 0)).tocsr()  # held-out items are not in history
    targets.eliminate_zeros()
    model = FixedScores(scores)
    evaluation_set = EvaluationSet(history=interactions(history), targets=interactions(targets))
    results = [
        evaluate_ranking(model, evaluation_set, [5, 10], batch, np.ones(n_items), n_users).summary
        for batch in (1, 7, 1000)
    ]
    assert results[0] == results[1] == results[2]
    expected_ndcg, expected_recall = reference_ndcg_recall(scores, history, targets, 10)
    assert results[0]["ndcg@10"] == pytest.approx(expected_ndcg)
    assert results[0]["recall@10"] == pytest.approx(expected_recall)
    assert results[0]["n_users"] == (np.diff(targets.indptr) > 0).sum()
