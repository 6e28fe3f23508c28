"""The shared training loop: an interrupted run resumes from its checkpoint to the same result, for every
training path (sampled negatives, history autoencoders with their own schedule, sequences with dropout
and user vectors, feature towers), since each draws randomness in its own way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.data.interactions import SplitData
from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model
from pipeline.training.checkpoint import CHECKPOINT_FILE
from tests.models.planted import planted_split

EPOCHS = 4
SMALL = {"epochs": EPOCHS, "patience": 100, "batch_size": 64}
SEQUENCE = {**SMALL, "embedding_dim": 16, "max_length": 8, "batch_size": 32}
RESUMABLE = {
    "bpr": SMALL,
    "gmf": {**SMALL, "unknown_user_rate": 0.3},
    "jncf": {**SMALL, "feature_layers": [32], "interaction_layers": [16], "history_dropout": 0.5},
    "twotower": {**SMALL, "embedding_dim": 16, "hidden_sizes": [32]},
    "cdae": SMALL,
    "multvae": {**SMALL, "hidden_sizes": [32], "latent_dim": 8},
    "recvae": {**SMALL, "hidden_dim": 32, "latent_dim": 8},
    "gru4rec": {**SEQUENCE, "hidden_dim": 16},
    "user_gru": {**SEQUENCE, "hidden_dim": 16},
    "sasrec": SEQUENCE,
    "text_cnn": {**SEQUENCE, "hidden_dim": 16, "word_dim": 8, "filters": 8, "max_words": 4, "min_word_count": 1},
    "cold_gan": {**SMALL, "hidden_sizes": [32], "latent_dim": 8, "discriminator_hidden": 8},
    "gar": {**SMALL, "collaborative": {"embedding_dim": 8, "epochs": 3, "batch_size": 64}, "hidden_sizes": [16],
            "feature_buckets": 64},
    "cfgan": {**SMALL, "generator_hidden": [16], "discriminator_hidden": [8], "probe_users": 16},
    "cfgan_item": {**SMALL, "model": "cfgan", "mode": "item", "generator_hidden": [16], "discriminator_hidden": [8]},
    "cfgan_denoising": {**SMALL, "model": "cfgan", "generator_hidden": [16], "discriminator_hidden": [8],
                        "condition_dropout": 0.5, "reconstruction_coefficient": 1.0},  # draws dropout masks too
    "irgan": {**SMALL, "pretraining": {"embedding_dim": 8, "epochs": 2, "batch_size": 64}, "batch_size": 64},
}


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def data() -> SplitData:
    return planted_split()


def count_epochs(model) -> list[int]:
    """Record how many epochs `model` actually trains in this process."""
    calls: list[int] = []
    original = model.train_epoch

    def counted(train, optimizer):
        calls.append(1)
        return original(train, optimizer)

    model.train_epoch = counted
    return calls


def train(name: str, data: SplitData, checkpoint_dir: Path | None,
          interrupt_at_epoch: int | None = None) -> tuple[torch.Tensor, int]:
    """Train `name` for EPOCHS epochs (crashing once at `interrupt_at_epoch`, then restarting in a new
    model object as a rerun of the stage would); returns the final scores and the epochs trained after
    the restart."""

    def fresh():
        model = create_model(name, RESUMABLE[name], data.index.n_users, data.index.n_items, "cpu", seed=3)
        model.checkpoint_dir = checkpoint_dir
        return model

    model = fresh()
    if interrupt_at_epoch is not None:
        original = model.train_epoch

        def train_epoch_then_crash(train, optimizer):
            if len(model.training_log) + 1 == interrupt_at_epoch:
                raise Interrupted
            return original(train, optimizer)

        model.train_epoch = train_epoch_then_crash
        with pytest.raises(Interrupted):
            model.fit(data.train, data.valid)
        model = fresh()
    calls = count_epochs(model)
    model.fit(data.train, data.valid)
    assert len(model.training_log) == EPOCHS
    return model.score(torch.arange(data.index.n_users), ScoringContext(history=data.train)), len(calls)


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_resumed_run_equals_uninterrupted_run(name: str, data: SplitData, tmp_path: Path) -> None:
    uninterrupted, _ = train(name, data, None)
    resumed, epochs_after_restart = train(name, data, tmp_path / "ckpt", interrupt_at_epoch=3)
    assert epochs_after_restart == EPOCHS - 2, "epochs 1-2 come from the checkpoint"
    assert torch.equal(uninterrupted, resumed)


def test_finished_checkpoint_is_not_resumed(data: SplitData, tmp_path: Path) -> None:
    first, _ = train("bpr", data, tmp_path)
    assert (tmp_path / CHECKPOINT_FILE).exists()
    again, epochs = train("bpr", data, tmp_path)
    assert epochs == EPOCHS, "a finished run is retrained from scratch, not resumed"
    assert torch.equal(first, again)


def test_epoch_callbacks_see_each_record_and_can_stop_training(data: SplitData) -> None:
    model = create_model("bpr", RESUMABLE["bpr"], data.index.n_users, data.index.n_items, "cpu", seed=3)
    seen: list[dict[str, float]] = []

    def stop_after_two(record: dict[str, float]) -> None:
        seen.append(record)
        if record["epoch"] == 2:
            raise Interrupted

    model.epoch_callbacks.append(stop_after_two)
    with pytest.raises(Interrupted):
        model.fit(data.train, data.valid)
    assert [record["epoch"] for record in seen] == [1, 2]
    assert all("valid_ndcg@10" in record and "loss" in record for record in seen)
