"""CDAE, Mult-DAE, Mult-VAE and RecVAE on planted data: each must learn the planted tastes, serve
held-out users from the items they reveal, and survive a save/load round trip unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model, load_model
from tests.models.planted import ColdUsers, ndcg_at_10, planted_split, train, warm_test

FAST = {"epochs": 40, "batch_size": 32, "learning_rate": 0.01, "patience": 8}
MODELS = {
    "cdae": FAST,
    "multdae": {**FAST, "hidden_sizes": [64], "latent_dim": 16},
    "multvae": {**FAST, "hidden_sizes": [64], "latent_dim": 16, "total_anneal_steps": 100},
    "recvae": {**FAST, "hidden_dim": 64, "encoder_layers": 2, "latent_dim": 16},
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


@pytest.mark.parametrize("name", list(MODELS))
def test_learns_the_planted_tastes(name, split, popularity) -> None:
    model = train(name, MODELS[name], split.train, split.valid)
    # popularity reaches about 0.04 here; knowing each user's group is worth about 0.6
    assert ndcg_at_10(model, warm_test(split), split.train) > popularity["warm"] + 0.35


@pytest.mark.parametrize("name", list(MODELS))
def test_serves_held_out_users_from_three_revealed_items(name, cold, popularity) -> None:
    model = train(name, MODELS[name], cold.train, cold.valid)
    assert cold.ndcg_after_fold_in(model, 3) > popularity["cold"] + 0.3


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_gives_identical_scores(name, split, tmp_path: Path) -> None:
    model = train(name, {**MODELS[name], "epochs": 2}, split.train, split.valid)
    model.save(tmp_path)
    restored = load_model(tmp_path)
    users = torch.arange(split.train.n_users)
    context = ScoringContext(split.train.concat(split.valid))
    assert torch.equal(model.score(users, context), restored.score(users, context))


def test_mult_vae_anneals_beta_to_its_cap(split) -> None:
    """Each update advances the schedule; the counter is saved with the weights so a resumed run
    continues it."""
    params = {**MODELS["multvae"], "epochs": 3, "patience": 10, "total_anneal_steps": 10, "anneal_cap": 0.2}
    model = create_model("multvae", params, split.train.n_users, split.train.n_items, "cpu", seed=0)
    model.fit(split.train)
    updates_per_epoch = -(-len(set(split.train.users.tolist())) // params["batch_size"])
    assert model.module.updates.item() == 3 * updates_per_epoch
    assert "updates" in model.module.state_dict()


def test_rec_vae_alternates_encoder_and_decoder_updates(split) -> None:
    """An encoder update leaves the decoder untouched (and vice versa), and after an epoch the prior's
    copy of the encoder equals the encoder, because the decoder passes left the encoder alone."""
    params = {**MODELS["recvae"], "epochs": 1}
    model = create_model("recvae", params, split.train.n_users, split.train.n_items, "cpu", seed=0)
    optimizer = model.make_optimizer()
    users, rows = next(model.user_batches(split.train))
    decoder, encoder = model.module.decoder.weight.detach().clone(), model.module.encoder.head.weight.detach().clone()
    model.step(optimizer, model.batch_loss(users, rows), list(model.module.encoder.parameters()))
    assert torch.equal(decoder, model.module.decoder.weight)
    assert not torch.equal(encoder, model.module.encoder.head.weight)
    encoder = model.module.encoder.head.weight.detach().clone()
    model.step(optimizer, model.batch_loss(users, rows, dropout=0.0), list(model.module.decoder.parameters()))
    assert torch.equal(encoder, model.module.encoder.head.weight)
    assert not torch.equal(decoder, model.module.decoder.weight)
    model.train_epoch(split.train, optimizer)
    for name, value in model.module.encoder.state_dict().items():
        assert torch.equal(value, model.module.previous_encoder.state_dict()[name])
