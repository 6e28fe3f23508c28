"""Chunked full ranking: identical to one stable sort of the whole masked row, whatever the chunk sizes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pipeline.data.interactions import SplitData
from pipeline.evaluation.protocol import evaluate_ranking, target_hits
from pipeline.evaluation.ranking import iter_top_k, stable_top_k
from pipeline.models.base import Recommender, ScoringContext
from tests.models.planted import planted_split, train, warm_test

# popularity and BPR score item ranges themselves; the others go through the default slicing of `score`
MODELS = {
    "popularity": {},
    "bpr": {"epochs": 2, "batch_size": 64},
    "itemknn": {"k": 10, "shrink": 1.0},
    "ease": {"l2": 10.0},
    "multvae": {"epochs": 2, "batch_size": 32},
}
# (item chunk, user batch): one-item chunks, chunks narrower than k, uneven last batches, one of each
LAYOUTS = ((1, 1024), (3, 16), (7, 5), (1_000, 16))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny chunks mean thousands of tiny tensor ops: on a loaded machine, waking a thread pool for each
    costs far more than the op. One thread keeps the test in seconds; results are the same."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def split() -> SplitData:
    return planted_split()


def sorted_row_reference(
    model: Recommender, users: np.ndarray, context: ScoringContext, exclude: sp.csr_matrix, k: int,
    candidates: np.ndarray | None,
) -> np.ndarray:
    """The definition: scores of the whole catalogue, known and non-candidate items at -inf, first k of
    a stable descending sort."""
    with torch.no_grad():
        scores = model.score(torch.from_numpy(users), context).float()
    blocked = torch.from_numpy(exclude[users].toarray() > 0)
    if candidates is not None:
        blocked |= ~torch.from_numpy(np.isin(np.arange(model.n_items), candidates))
    ordered = torch.sort(scores.masked_fill(blocked, float("-inf")), dim=1, descending=True, stable=True).indices
    return ordered[:, :k].numpy()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunked_ranking_equals_one_stable_sort_for_every_chunk_and_batch_size(split: SplitData, name: str) -> None:
    model = train(name, MODELS[name], split.train, split.valid)
    evaluation = warm_test(split)
    context = ScoringContext(history=evaluation.history)
    users = np.arange(split.train.n_users)
    rng = np.random.default_rng(0)
    for candidates in (None, np.sort(rng.choice(model.n_items, size=20, replace=False))):
        expected = sorted_row_reference(model, users, context, evaluation.history.csr, 20, candidates)
        for chunk, batch in LAYOUTS:
            ranked = np.concatenate([items for _, items in iter_top_k(
                model, users, context, evaluation.history.csr, 20, batch, candidates, item_chunk_size=chunk)])
            np.testing.assert_array_equal(ranked, expected, err_msg=f"{name}: chunk {chunk}, batch {batch}")


def test_metrics_do_not_depend_on_the_item_chunk_size(split: SplitData) -> None:
    model = train("popularity", {}, split.train, split.valid)  # heavy ties: the hardest case for merging
    summaries = [
        evaluate_ranking(model, warm_test(split), [5, 10], batch, split.train.item_counts, split.train.n_users,
                         item_chunk_size=chunk).summary
        for chunk, batch in LAYOUTS
    ]
    assert all(summary == summaries[0] for summary in summaries)


def test_stable_top_k_breaks_ties_by_position_like_a_stable_sort() -> None:
    values = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, float("-inf")], [0.0, 0.0, 0.0, 0.0, 5.0, 0.0]])
    for k in range(1, 7):
        expected = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(stable_top_k(values, k), expected)


def test_target_hits_match_a_dense_lookup() -> None:
    targets = sp.random(30, 50, density=0.1, format="csr", random_state=1)
    users = np.array([3, 0, 17, 29, 3])
    items = np.random.default_rng(1).integers(0, 50, size=(len(users), 8))
    expected = np.take_along_axis(targets[users].toarray(), items, axis=1) > 0
    np.testing.assert_array_equal(target_hits(targets, users, items), expected)


def test_nan_scores_are_an_error_naming_the_model(split: SplitData) -> None:
    model = train("popularity", {}, split.train, split.valid)
    model.module.item_counts[3] = float("nan")
    with pytest.raises(ValueError, match="popularity.*NaN"):
        list(iter_top_k(model, np.arange(4), ScoringContext(split.train), split.train.csr, 5, 2))
