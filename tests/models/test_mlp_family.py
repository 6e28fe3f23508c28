"""GMF, MLP, NeuMF, J-NCF and the two-tower model on planted data: each must learn the planted tastes,
serve held-out users from a few revealed items, and survive a save/load round trip unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from pipeline.models.base import ScoringContext
from pipeline.models.registry import load_model
from tests.models.planted import ColdUsers, ndcg_at_10, planted_split, train, warm_test

FAST = {"epochs": 30, "batch_size": 64, "learning_rate": 0.01, "patience": 5}
MODELS = {
    "gmf": FAST,
    "mlp": FAST,
    "neumf": FAST,
    "jncf": {**FAST, "feature_layers": [64, 32], "interaction_layers": [32]},
    "twotower": {**FAST, "embedding_dim": 32, "hidden_sizes": [64]},
    "bpr": FAST,  # uses the shared fold-in too
}


@pytest.fixture(scope="module")
def split():
    return planted_split()


@pytest.fixture(scope="module")
def cold(split):
    return ColdUsers(split)


@pytest.fixture(scope="module")
def popularity(split, cold) -> dict[str, float]:
    warm = train("popularity", {}, split.train, split.valid)
    held_out = train("popularity", {}, cold.train, cold.valid)
    return {"warm": ndcg_at_10(warm, warm_test(split), split.train), "cold": cold.ndcg_after_fold_in(held_out, 3)}


@pytest.mark.parametrize("name", [name for name in MODELS if name != "bpr"])
def test_learns_the_planted_tastes(name, split, popularity) -> None:
    model = train(name, MODELS[name], split.train, split.valid)
    # popularity reaches about 0.04 here; knowing each user's group is worth about 0.6
    assert ndcg_at_10(model, warm_test(split), split.train) > popularity["warm"] + 0.35


@pytest.mark.parametrize("name", list(MODELS))
def test_serves_held_out_users_from_three_revealed_items(name, cold, popularity) -> None:
    model = train(name, MODELS[name], cold.train, cold.valid)
    assert cold.ndcg_after_fold_in(model, 3) > popularity["cold"] + 0.3


@pytest.mark.parametrize("name", ["gmf", "neumf", "bpr"])
def test_fold_in_is_deterministic_and_leaves_warm_users_alone(name, cold) -> None:
    model = train(name, MODELS[name], cold.train, cold.valid)
    users = torch.arange(cold.train.n_users)
    history = cold.evaluation(3).history
    warm = np.setdiff1d(np.arange(cold.train.n_users), cold.users)
    before = model.score(users, ScoringContext(history))
    model.fold_in(cold.users, history)
    first = model.score(users, ScoringContext(history))
    model.fold_in(cold.users, history)
    assert torch.equal(first, model.score(users, ScoringContext(history)))
    assert torch.equal(first[warm], before[warm])
    assert not torch.equal(first[cold.users], before[cold.users])


@pytest.mark.parametrize("name", ["gmf", "mlp", "neumf"])
def test_user_id_dropout_trains_an_unknown_user_that_new_users_start_from(name, cold, popularity) -> None:
    model = train(name, {**FAST, "unknown_user_rate": 0.3}, cold.train, cold.valid)
    # revealing nothing, a new user is the unknown user, who learned what everyone likes
    model.fold_in(cold.users, cold.evaluation(0).history)
    with torch.no_grad():
        scores = model.score(torch.from_numpy(cold.users), ScoringContext(cold.train)).numpy()
    assert all(spearmanr(row, cold.train.item_counts).statistic > 0.6 for row in scores)  # without dropout: ~0.2
    # the unknown user only anchors the start: three revealed items still identify the taste (~0.84;
    # starting every new user at the unknown user itself reaches only ~0.2-0.35)
    assert cold.ndcg_after_fold_in(model, 3) > popularity["cold"] + 0.6


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_gives_identical_scores(name, split, tmp_path: Path) -> None:
    model = train(name, {**MODELS[name], "epochs": 2}, split.train, split.valid)
    model.save(tmp_path)
    restored = load_model(tmp_path)
    users = torch.arange(split.train.n_users)
    context = ScoringContext(split.train.concat(split.valid))
    assert torch.equal(model.score(users, context), restored.score(users, context))


def test_neumf_starts_from_trained_gmf_and_mlp(split, tmp_path: Path) -> None:
    parts = {}
    for name in ("gmf", "mlp"):
        parts[name] = train(name, {**FAST, "epochs": 3}, split.train, split.valid)
        parts[name].save(tmp_path / name)
    # a vanishing learning rate leaves NeuMF where the pre-trained parts put it
    neumf = train("neumf", {**FAST, "epochs": 1, "learning_rate": 1e-12, "pretrained_gmf": str(tmp_path / "gmf"),
                            "pretrained_mlp": str(tmp_path / "mlp"), "pretrain_alpha": 0.3}, split.train, split.valid)
    users, context = torch.arange(split.train.n_users), ScoringContext(split.train)
    expected = 0.3 * parts["gmf"].score(users, context) + 0.7 * parts["mlp"].score(users, context)
    torch.testing.assert_close(neumf.score(users, context), expected, atol=1e-4, rtol=1e-4)


def test_neumf_refuses_pretrained_parts_of_another_size(split, tmp_path: Path) -> None:
    train("gmf", {**FAST, "epochs": 1, "embedding_dim": 8}, split.train, split.valid).save(tmp_path)
    with pytest.raises(ValueError, match="embedding_dim"):
        train("neumf", {**FAST, "epochs": 1, "pretrained_gmf": str(tmp_path)}, split.train, split.valid)


def test_jncf_history_dropout_serves_a_new_user_from_one_revealed_item(cold) -> None:
    """J-NCF reads a user as their rating vector; trained only on long vectors it cannot read a one-item
    one (~0.32 here). Thinning the training vectors teaches it short ones (~0.79)."""
    popularity = cold.ndcg_after_fold_in(train("popularity", {}, cold.train, cold.valid), 1)
    model = train("jncf", {**MODELS["jncf"], "history_dropout": 0.8}, cold.train, cold.valid)
    assert cold.ndcg_after_fold_in(model, 1) > popularity + 0.4


def test_two_tower_serves_new_users_from_attributes_alone(cold, popularity) -> None:
    model = train("twotower", MODELS["twotower"], cold.train, cold.valid)
    assert cold.ndcg_after_fold_in(model, 0) > popularity["cold"] + 0.2


def test_two_tower_scores_new_items_from_their_features(split) -> None:
    """Items held out of training entirely rank, for each user, by whether their category is the user's."""
    new_items = np.arange(0, split.train.n_items, 5)
    seen = ~np.isin(split.train.items, new_items)
    valid = split.valid.subset(~np.isin(split.valid.items, new_items))
    model = train("twotower", MODELS["twotower"], split.train.subset(seen), valid)
    scores = model.score(torch.arange(split.train.n_users), ScoringContext(split.train.subset(seen)))[:, new_items]
    categories = split.train.side.items.categories[new_items].toarray().argmax(axis=1)
    user_group = np.array([split.train.side.items.categories[split.train.items[split.train.users == u][0]].indices[0]
                           for u in range(split.train.n_users)])
    own = torch.from_numpy(categories[None, :] == user_group[:, None])
    own_mean = (scores * own).sum(1) / own.sum(1)
    other_mean = (scores * ~own).sum(1) / (~own).sum(1)
    assert (own_mean > other_mean).float().mean() > 0.95


def test_two_tower_history_prior_pulls_short_histories_to_the_average_taste(split) -> None:
    """The user tower reads the mean of the history's item vectors with `history_prior` pseudo-interactions
    of the average (popularity-weighted) item: an empty history is the average taste, long ones barely move."""
    model = train("twotower", {**MODELS["twotower"], "history_prior": 4.0}, split.train, split.valid)
    vectors = torch.randn(split.train.n_items, 32)
    average = torch.from_numpy(split.train.item_counts / len(split.train)).float() @ vectors
    sums = torch.stack([torch.zeros(32), vectors[0], 96 * vectors[1]])
    means = model.module.history_means(sums, torch.tensor([0, 1, 96]), vectors)
    torch.testing.assert_close(means[0], average)
    torch.testing.assert_close(means[1], (vectors[0] + 4 * average) / 5)
    torch.testing.assert_close(means[2], (96 * vectors[1] + 4 * average) / 100)
