"""`max_seconds`: the shared loop stops after the epoch that crosses the budget, keeps the best epoch so far,
says why it stopped, and counts time spent before an interruption when it resumes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from pipeline.config import TrainParams
from pipeline.data.interactions import SplitData
from pipeline.evaluation.protocol import validation_metric
from pipeline.models.registry import create_model
from pipeline.stages.train import training_record
from pipeline.training.trainer import STOPPED_EPOCHS, STOPPED_PATIENCE, STOPPED_TIME, IterativeRecommender
from tests.models.planted import planted_split

EPOCH_SLEEP = 0.2  # every epoch takes at least this long, so a budget is crossed after a known minimum of epochs
SETTINGS = {"epochs": 60, "patience": 100, "batch_size": 64}


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def data() -> SplitData:
    return planted_split()


def slow_bpr(data: SplitData, **settings) -> IterativeRecommender:
    model = create_model("bpr", {**SETTINGS, **settings}, data.index.n_users, data.index.n_items, "cpu", seed=3)
    original = model.train_epoch

    def slow_epoch(train, optimizer):
        time.sleep(EPOCH_SLEEP)
        return original(train, optimizer)

    model.train_epoch = slow_epoch
    return model


def test_budget_stops_after_the_epoch_that_crosses_it_with_the_best_weights(data: SplitData) -> None:
    budget = 3 * EPOCH_SLEEP
    model = slow_bpr(data, max_seconds=budget).fit(data.train, data.valid)
    elapsed = [record["elapsed"] for record in model.training_log]
    crossed = next(position for position, seconds in enumerate(elapsed) if seconds >= budget)
    assert model.stopped == STOPPED_TIME
    assert len(model.training_log) == crossed + 1 < SETTINGS["epochs"], "the crossing epoch is the last one"
    assert elapsed == sorted(elapsed) and len(elapsed) <= 3
    scores = [record["valid_ndcg@10"] for record in model.training_log]
    assert model.best_epoch == scores.index(max(scores)) + 1
    assert validation_metric(model, data.train, data.valid) == pytest.approx(max(scores), abs=1e-12)


def test_patience_and_epochs_are_recorded_as_reasons(data: SplitData) -> None:
    impatient = create_model("bpr", {**SETTINGS, "patience": 1, "learning_rate": 0.5}, data.index.n_users,
                             data.index.n_items, "cpu", seed=3).fit(data.train, data.valid)
    assert impatient.stopped == STOPPED_PATIENCE and len(impatient.training_log) < SETTINGS["epochs"]
    short = create_model("bpr", {**SETTINGS, "epochs": 2}, data.index.n_users, data.index.n_items, "cpu",
                         seed=3).fit(data.train, data.valid)
    assert short.stopped == STOPPED_EPOCHS and len(short.training_log) == 2
    assert training_record(short, 1.5, torch.device("cpu"))["stopped"] == STOPPED_EPOCHS


def test_resumed_run_counts_the_time_spent_before_the_interruption(data: SplitData, tmp_path: Path) -> None:
    interrupted = slow_bpr(data)
    interrupted.checkpoint_dir = tmp_path
    original = interrupted.train_epoch

    def crash_in_third_epoch(train, optimizer):
        if len(interrupted.training_log) == 2:
            raise Interrupted
        return original(train, optimizer)

    interrupted.train_epoch = crash_in_third_epoch
    with pytest.raises(Interrupted):
        interrupted.fit(data.train, data.valid)
    spent = interrupted.training_log[-1]["elapsed"]
    assert spent >= 2 * EPOCH_SLEEP
    # rerun with a budget the two checkpointed epochs already used up: it resumes (the budget is not part of
    # the checkpoint's identity) and stops before training anything more, holding the better of those epochs
    resumed = slow_bpr(data, max_seconds=spent / 2)
    resumed.checkpoint_dir = tmp_path
    resumed.fit(data.train, data.valid)
    assert resumed.stopped == STOPPED_TIME
    assert [record["epoch"] for record in resumed.training_log] == [1, 2]
    assert resumed.training_log == interrupted.training_log


def test_budget_defaults_from_train_settings_and_a_model_setting_wins(data: SplitData) -> None:
    n_users, n_items = data.index.n_users, data.index.n_items
    assert create_model("bpr", {}, n_users, n_items, "cpu", seed=1, max_seconds=30).config.max_seconds == 30
    assert create_model("bpr", {"max_seconds": 5}, n_users, n_items, "cpu", seed=1, max_seconds=30).config.max_seconds == 5
    assert create_model("bpr", {}, n_users, n_items, "cpu", seed=1).config.max_seconds is None
    closed_form = create_model("ease", {}, n_users, n_items, "cpu", seed=1, max_seconds=30)
    assert "max_seconds" not in closed_form.config.model_dump(), "closed-form models have no budget"
    with pytest.raises(ValidationError, match="max_seconds"):
        TrainParams(max_seconds=-1)
