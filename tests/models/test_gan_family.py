"""CFGAN (user- and item-based) and IRGAN on planted data: each must learn the planted tastes, survive a
save/load round trip unchanged, and log its per-network losses and collapse signal every epoch; the
collapse rule must fire on a generator that produces the same vector for everyone, and only then."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model, load_model
from pipeline.training.adversarial import COLLAPSED, CollapseConfig, CollapseMonitor, collapse_summary
from tests.models.planted import ndcg_at_10, planted_split, train, warm_test

CFGAN_FAST = {"epochs": 30, "batch_size": 16, "learning_rate": 0.003, "patience": 5, "generator_hidden": [64],
              "discriminator_hidden": [32], "zr_coefficient": 0.1}
MODELS = {
    "cfgan": CFGAN_FAST,
    "cfgan_item": {**CFGAN_FAST, "model": "cfgan", "mode": "item"},
    # the MovieTweetings default's shape: G fed a thinned row, with our reconstruction term
    "cfgan_denoising": {**CFGAN_FAST, "model": "cfgan", "condition_dropout": 0.5, "reconstruction_coefficient": 1.0},
    "irgan": {"pretraining": {"embedding_dim": 16, "learning_rate": 0.05, "epochs": 30, "batch_size": 64},
              "batch_size": 128, "epochs": 10, "patience": 3},
}


@pytest.fixture(scope="module")
def split():
    return planted_split()


@pytest.fixture(scope="module")
def popularity(split) -> float:
    return ndcg_at_10(train("popularity", {}, split.train, split.valid), warm_test(split), split.train)


@pytest.fixture(scope="module")
def trained(split) -> dict:
    return {name: train(name, params, split.train, split.valid) for name, params in MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_learns_the_planted_tastes(name, split, popularity, trained) -> None:
    # popularity reaches about 0.04 here; knowing each user's group is worth about 0.6
    assert ndcg_at_10(trained[name], warm_test(split), split.train) > popularity + 0.35


@pytest.mark.parametrize("name", list(MODELS))
def test_every_epoch_logs_both_losses_and_the_collapse_signal(name, trained) -> None:
    log = trained[name].training_log
    for record in log:
        assert {"generator_loss", "discriminator_loss", "coverage@10", "diversity", COLLAPSED} <= set(record)
    assert collapse_summary(log) == {"collapsed_epochs": 0, "collapsed_at_end": 0}


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_gives_identical_scores(name, split, tmp_path: Path) -> None:
    params = {**MODELS[name], "epochs": 2}
    if name == "irgan":
        params["pretraining"] = {**params["pretraining"], "epochs": 2}
    model = train(name, params, split.train, split.valid)
    model.save(tmp_path)
    restored = load_model(tmp_path)
    users = torch.arange(split.train.n_users)
    context = ScoringContext(split.train.concat(split.valid))
    assert torch.equal(model.score(users, context), restored.score(users, context))


def test_collapse_rule_fires_on_a_generator_that_ignores_its_condition(split, trained, caplog) -> None:
    """Zeroing G's first layer makes its output the same vector whatever the user: the textbook mode
    collapse. The trained generator, which reconstructs each user's own tastes, is not flagged."""
    monitor = CollapseMonitor.for_training(split.train, CollapseConfig(), "CFGAN generator")
    probe = torch.from_numpy(monitor.users)
    context = ScoringContext(split.train)
    healthy = trained["cfgan"]
    assert monitor(healthy.score(probe, context))[COLLAPSED] == 0.0

    collapsed = create_model("cfgan", CFGAN_FAST, split.train.n_users, split.train.n_items, "cpu", seed=0)
    collapsed.module.load_state_dict(healthy.module.state_dict())
    with torch.no_grad():
        collapsed.module.generator[0][0].weight.zero_()
    with caplog.at_level(logging.WARNING, logger="pipeline.training.adversarial"):
        figures = monitor(collapsed.score(probe, context))
    assert figures[COLLAPSED] == 1.0
    assert figures["coverage@10"] == pytest.approx(10 / split.train.n_items)
    assert "mode-collapsed" in caplog.text


def test_cfgan_discriminator_judges_against_the_whole_row_under_condition_dropout(split) -> None:
    """Condition dropout thins only G's input: were D shown the thinned row too, it could not tell a PM item
    from a purchased item it was not shown, and G would win by scoring every item high for everyone."""
    model = create_model("cfgan", {**CFGAN_FAST, "condition_dropout": 0.8}, split.train.n_users,
                         split.train.n_items, "cpu", seed=0)
    rows = torch.from_numpy(split.train.csr[:32].toarray()).float()
    seen: list[torch.Tensor] = []
    model.module.discriminator.register_forward_hook(lambda _module, inputs, _output: seen.append(inputs[0]))
    model.discriminator_loss(rows)
    model.generator_loss(rows)
    assert len(seen) == 3  # D's loss judges the real and the fake vector, G's loss the fake one
    for judged in seen:
        assert torch.equal(judged[:, : split.train.n_items], rows)


def test_irgan_scores_with_the_network_that_validates_better(trained) -> None:
    """With `scorer: auto` each epoch records both networks' validation NDCG and scores with the better;
    the restored best epoch keeps its choice."""
    model = trained["irgan"]
    best = max(model.training_log, key=lambda record: record["valid_ndcg@10"])
    better = int(best["valid_discriminator_ndcg@10"] > best["valid_generator_ndcg@10"])
    assert best["scorer"] == better
    # the pretrained generator, when kept because the game did not beat it, always scores
    assert model.module.scorer.item() == (better if model.module.game_kept.item() else 0)


def test_irgan_keeps_its_bpr_pretraining_when_the_game_does_not_pay(split) -> None:
    """A generator step size that wrecks G loses to the pretraining on validation: IRGAN then scores
    exactly as the BPR it started from, never worse than its own baseline."""
    pretraining = {"embedding_dim": 16, "learning_rate": 0.05, "epochs": 5, "batch_size": 64}
    irgan = train("irgan", {"pretraining": pretraining, "generator_learning_rate": 1.0, "scorer": "generator",
                            "epochs": 2, "patience": 2, "batch_size": 128}, split.train, split.valid)
    bpr = train("bpr", pretraining, split.train, split.valid)
    assert irgan.module.game_kept.item() == 0
    users = torch.arange(split.train.n_users)
    context = ScoringContext(split.train.concat(split.valid))
    assert torch.equal(irgan.score(users, context), bpr.score(users, context))
