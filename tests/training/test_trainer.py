"""The shared training loop: an interrupted run resumes from its checkpoint to the same result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model
from pipeline.training.checkpoint import CHECKPOINT_FILE
from tests.models.test_baselines import small_split


class Interrupted(Exception):
    pass


def count_epochs(model) -> list[int]:
    """Record how many epochs `model` actually trains in this process."""
    calls: list[int] = []
    original = model.train_epoch

    def counted(train, optimizer):
        calls.append(1)
        return original(train, optimizer)

    model.train_epoch = counted
    return calls


def train_bpr(checkpoint_dir: Path | None, interrupt_at_epoch: int | None = None) -> tuple[torch.Tensor, int]:
    data = small_split()
    model = create_model("bpr", {"epochs": 8, "patience": 100}, data.index.n_users, data.index.n_items, "cpu", seed=3)
    model.checkpoint_dir = checkpoint_dir
    if interrupt_at_epoch is not None:
        original = model.train_epoch

        def train_epoch_then_crash(train, optimizer):
            if len(model.training_log) + 1 == interrupt_at_epoch:
                raise Interrupted
            return original(train, optimizer)

        model.train_epoch = train_epoch_then_crash
        with pytest.raises(Interrupted):
            model.fit(data.train, data.valid)
        model = create_model("bpr", {"epochs": 8, "patience": 100}, data.index.n_users, data.index.n_items, "cpu", seed=3)
        model.checkpoint_dir = checkpoint_dir
    calls = count_epochs(model)
    model.fit(data.train, data.valid)
    assert len(model.training_log) == 8
    return model.score(torch.arange(data.index.n_users), ScoringContext(history=data.train)), len(calls)


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    uninterrupted, _ = train_bpr(None)
    resumed, epochs_after_restart = train_bpr(tmp_path / "ckpt", interrupt_at_epoch=5)
    assert epochs_after_restart == 4, "epochs 1-4 come from the checkpoint"
    assert torch.equal(uninterrupted, resumed)


def test_finished_checkpoint_is_not_resumed(tmp_path: Path) -> None:
    first, _ = train_bpr(tmp_path)
    assert (tmp_path / CHECKPOINT_FILE).exists()
    again, epochs = train_bpr(tmp_path)
    assert epochs == 8, "a finished run is retrained from scratch, not resumed"
    assert torch.equal(first, again)
