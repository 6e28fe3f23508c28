"""The cold-start GANs: the new-user GAN learns the planted groups from a few revealed items, the
new-item GAN from item content, both survive save/load, the collapse watch fires on a generator that
ignores its input, and GAN augmentation adds interactions for sparse users only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.interactions import Interactions, SplitData
from pipeline.evaluation.protocol import EvaluationSet
from pipeline.models.base import ScoringContext
from pipeline.models.bpr import factorisation_scores
from pipeline.models.gan_augmentation import augment_sparse_users
from pipeline.models.registry import create_model, load_model
from tests.models.planted import ColdUsers, ndcg_at_10, planted_split, train

COLD_GAN = {"hidden_sizes": [32], "latent_dim": 16, "discriminator_hidden": 16, "epochs": 15, "patience": 15,
            "batch_size": 32, "learning_rate": 0.01}
GAR = {"collaborative": {"embedding_dim": 16, "epochs": 20, "learning_rate": 0.02, "batch_size": 128},
       "hidden_sizes": [32], "feature_buckets": 256, "epochs": 10, "batch_size": 128, "learning_rate": 0.01}
GAR_PAPER = {**GAR, "objective": "paper", "item_bias": False, "critic_sizes": [32, 16],  # the GAR authors' losses
             "learning_rate": 0.003}  # the batch-normed tanh critic: NDCG@10 0.70 here, 0.26 at 0.01


@pytest.fixture(scope="module")
def split() -> SplitData:
    return planted_split()


@pytest.fixture(scope="module")
def cold_users(split: SplitData) -> ColdUsers:
    return ColdUsers(split)


@pytest.fixture(scope="module")
def cold_gan(cold_users: ColdUsers):
    return train("cold_gan", COLD_GAN, cold_users.train, cold_users.valid)


class ColdItems:
    """One planted item in four held out of training; warm users' interactions with them are the targets,
    ranked among the held-out items only (the cold-item regime)."""

    def __init__(self, split: SplitData):
        n_items = split.index.n_items
        self.items = np.arange(0, n_items, 4)
        self.train = split.train.subset(~np.isin(split.train.items, self.items))
        self.valid = split.valid.subset(~np.isin(split.valid.items, self.items))
        later = split.valid.concat(split.test)
        self.evaluation = EvaluationSet(history=self.train, targets=later.subset(np.isin(later.items, self.items)),
                                        candidates=self.items)


@pytest.fixture(scope="module")
def cold_items(split: SplitData) -> ColdItems:
    return ColdItems(split)


@pytest.fixture(scope="module")
def gar(cold_items: ColdItems):
    return train("gar", GAR, cold_items.train, cold_items.valid)


@pytest.fixture(scope="module")
def gar_paper(cold_items: ColdItems):
    return train("gar", GAR_PAPER, cold_items.train, cold_items.valid)


def test_cold_gan_learns_the_planted_groups_from_three_revealed_items(cold_gan, cold_users: ColdUsers) -> None:
    popularity = train("popularity", {}, cold_users.train, cold_users.valid)
    gan = cold_users.ndcg_after_fold_in(cold_gan, 3)
    assert gan > cold_users.ndcg_after_fold_in(popularity, 3) + 0.3
    assert cold_gan.training_log[-1]["discriminator_loss"] > 0, "the adversarial game was played"


@pytest.mark.parametrize(("fixture", "settings"), [("gar", GAR), ("gar_paper", GAR_PAPER)])
def test_gar_learns_new_items_from_their_content(fixture: str, settings: dict, request: pytest.FixtureRequest,
                                                 cold_items: ColdItems) -> None:
    trained = request.getfixturevalue(fixture)
    untrained = create_model("gar", settings, cold_items.train.n_users, cold_items.train.n_items, "cpu", seed=0)
    untrained.collaborative.fit(cold_items.train)  # same users, untrained generator: a random ranking of new items
    untrained.module.known_items.copy_(torch.from_numpy(cold_items.train.item_counts > 0))
    assert ndcg_at_10(trained, cold_items.evaluation, cold_items.train) > (
        ndcg_at_10(untrained, cold_items.evaluation, cold_items.train) + 0.2)


def test_gar_paper_objective_refuses_an_item_bias_its_critic_cannot_score() -> None:
    with pytest.raises(ValueError, match="set item_bias: false"):
        create_model("gar", {**GAR_PAPER, "item_bias": True}, 10, 10, "cpu", seed=0)


def test_gar_scores_warm_items_with_their_collaborative_embedding(gar, cold_items: ColdItems) -> None:
    users = torch.arange(4)
    scores = gar.score(users, ScoringContext(history=cold_items.train))
    warm = np.setdiff1d(np.arange(cold_items.train.n_items), cold_items.items)
    expected = factorisation_scores(gar.module.collaborative, users)  # BPR's own scores: no generated bias
    assert torch.allclose(scores[:, warm], expected[:, warm])


@pytest.mark.parametrize("fixture", ["cold_gan", "gar", "gar_paper"])
def test_saved_model_scores_identically(fixture: str, request: pytest.FixtureRequest, split: SplitData,
                                        tmp_path: Path) -> None:
    model = request.getfixturevalue(fixture)
    model.save(tmp_path)
    context = ScoringContext(history=split.train)
    users = torch.arange(split.index.n_users)
    with torch.no_grad():
        assert torch.equal(model.score(users, context), load_model(tmp_path).score(users, context))


@pytest.mark.parametrize("fixture", ["cold_gan", "gar"])
def test_collapse_watch_fires_on_a_generator_that_ignores_its_input(fixture: str,
                                                                   request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(fixture)
    assert model.training_log[-1]["collapsed"] == 0.0, "the trained generator is diverse"
    state = {key: value.clone() for key, value in model.module.state_dict().items()}
    output_layer = model.module.decoder[-1] if fixture == "cold_gan" else model.module.content[-1]
    with torch.no_grad():
        output_layer.weight.zero_()  # every input now generates the same vector: the output bias
    try:
        assert model.epoch_diagnostics()["collapsed"] == 1.0
    finally:
        model.module.load_state_dict(state)


def _thinned(split: SplitData, keep: int, every: int) -> Interactions:
    """Every `every`-th user keeps only their first `keep` training interactions: the sparse users."""
    train = split.train
    order = train.time_order
    rank = np.empty(len(train), dtype=np.int64)
    rank[order] = np.arange(len(train)) - train.user_offsets[train.users[order]]
    return train.subset((train.users % every != 0) | (rank < keep))


def test_augmentation_adds_generated_interactions_for_sparse_users_only(split: SplitData) -> None:
    thinned = _thinned(split, keep=2, every=3)
    new_item = int(thinned.items[0])
    train = thinned.subset(thinned.items != new_item)  # an item nobody has in training
    model = create_model("gan_augmented", {"base": "itemknn", "sparse_below": 4}, train.n_users, train.n_items,
                         "cpu", seed=0)
    sparse = model.sparse_users(train)
    assert set(sparse) <= set(range(0, train.n_users, 3)) and len(sparse) > 10
    scores = torch.rand(len(sparse), train.n_items, generator=torch.Generator().manual_seed(0))
    augmented = augment_sparse_users(train, scores, sparse, 3)
    added = augmented.subset(np.arange(len(augmented)) >= len(train))
    assert np.array_equal(np.bincount(added.users, minlength=train.n_users)[sparse], np.full(len(sparse), 3))
    assert set(added.users) == set(sparse), "only sparse users gain interactions"
    assert (train.item_counts[added.items] > 0).all(), "items without training interactions stay new"
    assert train.csr.multiply(added.csr).nnz == 0, "generated items are ones the user has not interacted with"


def test_augmented_model_trains_its_base_on_the_augmented_set_and_serves_like_it(split: SplitData) -> None:
    train = _thinned(split, keep=2, every=2)
    params = {"base": "itemknn", "base_params": {"k": 20}, "sparse_below": 3, "generator": {**COLD_GAN, "epochs": 5}}
    augmented = create_model("gan_augmented", params, train.n_users, train.n_items, "cpu", seed=0).fit(train)
    plain = create_model("itemknn", {"k": 20}, train.n_users, train.n_items, "cpu", seed=0).fit(train)
    context = ScoringContext(history=train)
    users = torch.arange(train.n_users)
    assert not torch.equal(augmented.score(users, context), plain.score(users, context))
    assert augmented.unsupported_regimes == plain.unsupported_regimes
