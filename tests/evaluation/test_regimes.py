"""Regime evaluation on the real bundled data, plus the statistics behind the leaderboards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.filtering import kcore
from pipeline.data.regimes import build_regimes
from pipeline.data.sources import read_source
from pipeline.evaluation.protocol import evaluate_ranking
from pipeline.evaluation.regimes import RegimeData
from pipeline.evaluation.sampled import sampled_metrics
from pipeline.evaluation.significance import bootstrap_interval, paired_p_value
from pipeline.models.base import ScoringContext
from pipeline.models.registry import MODEL_CLASSES, create_model
from tests.evaluation.test_metrics import FixedScores


@pytest.fixture(scope="module")
def data(movietweetings_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RegimeData:
    tables = read_source("movietweetings", movietweetings_dir)
    regimes = build_regimes(kcore(tables.interactions, 5), valid_fraction=0.1, test_fraction=0.1,
                            cold_user_fraction=0.1, cold_item_fraction=0.1, cold_valid_share=0.5, reveal=(1, 3),
                            sparsity=(0.5,),
                            leave_last_out=False, seed=2020)
    directory = tmp_path_factory.mktemp("splits")
    regimes.write(directory)
    return RegimeData.load(directory, items=tables.items, users=tables.users)


def ndcg(model, evaluation_set, data: RegimeData) -> float:
    train = data.warm["train"]
    return evaluate_ranking(model, evaluation_set, [10], 512, train.item_counts, train.n_users).summary["ndcg@10"]


def test_content_baseline_ranks_cold_items_clearly_above_random(data: RegimeData) -> None:
    content = create_model("content", {}, data.index.n_users, data.index.n_items, "cpu", seed=0).fit(data.warm["train"])
    rng = np.random.default_rng(0)
    for cold_items in data.cold_item_sets().values():
        random_runs = [ndcg(FixedScores(rng.random((data.index.n_users, data.index.n_items)).astype(np.float32)),
                            cold_items, data) for _ in range(3)]
        assert ndcg(content, cold_items, data) > 2 * max(random_runs)


def test_cold_item_parts_rank_disjoint_item_sets(data: RegimeData) -> None:
    parts = data.cold_item_sets()
    valid, test = parts["valid"].candidates, parts["test"].candidates
    assert np.intersect1d(valid, test).size == 0 and np.union1d(valid, test).size == data.cold_items.size
    for evaluation_set in parts.values():
        assert np.isin(evaluation_set.targets.items, evaluation_set.candidates).all()


def test_collaborative_models_declare_cold_items_not_applicable() -> None:
    for name in ("popularity", "itemknn", "bpr", "ease"):
        assert "cold_items" in MODEL_CLASSES[name].unsupported_regimes
    assert "cold_items" not in MODEL_CLASSES["content"].unsupported_regimes


def test_cold_user_sets_know_only_what_was_revealed(data: RegimeData) -> None:
    for regime, cold_users in data.cold_user_sets().items():
        k, users, parts = int(regime.removeprefix("cold_users_k")), cold_users.users, cold_users.parts
        assert set(parts) == {"valid", "test"}
        valid_users, test_users = (np.unique(parts[part].targets.users) for part in ("valid", "test"))
        assert np.intersect1d(valid_users, test_users).size == 0, "validation and test are different cold users"
        assert np.isin(np.union1d(valid_users, test_users), users).all()
        for evaluation_set in parts.values():
            known_per_user = np.diff(evaluation_set.history.csr.indptr)[users]
            assert known_per_user.max() == k and known_per_user.min() >= 1
            assert np.intersect1d(evaluation_set.candidates, data.cold_items).size == 0


def test_warm_candidates_exclude_cold_items(data: RegimeData) -> None:
    ease = create_model("ease", {}, data.index.n_users, data.index.n_items, "cpu", seed=0).fit(data.warm["train"])
    test = data.warm_like_sets("warm")["test"]
    result = evaluate_ranking(ease, test, [10], 512, data.warm["train"].item_counts, data.index.n_users)
    assert not np.isin(result.top_items, data.cold_items).any()


def test_sampled_protocol_is_labelled_and_rewards_a_real_model(data: RegimeData) -> None:
    test = data.warm_like_sets("warm")["test"]
    popularity = create_model("popularity", {}, data.index.n_users, data.index.n_items, "cpu", seed=0)
    popularity.fit(data.warm["train"])
    constant = FixedScores(np.zeros((data.index.n_users, data.index.n_items), dtype=np.float32))
    scored = sampled_metrics(popularity, test, 99, 10, 512, seed=1)
    assert scored["protocol"].startswith("sampled: 1 positive + 99")
    assert scored["hr@10"] > 0.3
    assert sampled_metrics(constant, test, 99, 10, 512, seed=1)["hr@10"] == 0.0, "ties never favour the positive"


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_users() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.random(100), rng.random(10_000)
    low, high = bootstrap_interval(small, 1000, seed=0)
    assert low < small.mean() < high
    low_large, high_large = bootstrap_interval(large, 1000, seed=0)
    assert high_large - low_large < (high - low) / 5


def test_paired_test_separates_a_real_difference_from_noise() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(2000)
    assert paired_p_value(base + 0.05, base) < 1e-6
    assert paired_p_value(base + rng.normal(0, 0.01, 2000), base) > 0.01
    assert paired_p_value(base, base) == 1.0


def test_fold_in_history_reaches_the_model(data: RegimeData) -> None:
    """History-based models see the revealed items: scores differ between k=1 and k=3."""
    ease = create_model("ease", {}, data.index.n_users, data.index.n_items, "cpu", seed=0).fit(data.warm["train"])
    sets = data.cold_user_sets()
    users = torch.from_numpy(sets["cold_users_k1"].users[:20])
    one = ease.score(users, ScoringContext(sets["cold_users_k1"].history))
    three = ease.score(users, ScoringContext(sets["cold_users_k3"].history))
    assert not torch.equal(one, three)


