"""The one training loop for gradient-trained models: mini-batch epochs, validation after each epoch,
early stopping on the selection metric or a wall-time budget, best-weight restore, per-epoch checkpoints
with exact resume, optional bf16 mixed precision on CUDA, data-parallel training under torchrun
(pipeline/training/distributed.py), and a progress bar. The same loop runs on CPU, one GPU or DDP."""

from __future__ import annotations

import contextlib
import copy
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from pydantic import Field
from tqdm.auto import tqdm

from pipeline.data.interactions import Interactions
from pipeline.evaluation.protocol import validation_metric
from pipeline.models.base import ModelConfig, Recommender
from pipeline.training import distributed
from pipeline.training.checkpoint import fingerprint, load_resumable, save_checkpoint

# Why training ended, as recorded in `stopped`: the validation metric stopped improving, the wall-time
# budget ran out, or every configured epoch ran.
STOPPED_PATIENCE, STOPPED_TIME, STOPPED_EPOCHS = "patience", "time", "epochs"


class IterativeConfig(ModelConfig):
    epochs: int = Field(300, ge=1, description="upper bound; early stopping usually ends sooner")
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(2048, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(10, ge=1, description="epochs without validation improvement before stopping")
    selection_metric: str = "ndcg@10"
    mixed_precision: bool = Field(False, description="bf16 autocast on CUDA; ignored on CPU")
    max_seconds: float | None = Field(
        None, ge=0, description="wall-time budget of one fit (validation included): training stops after the "
        "epoch that crosses it, with the best epoch's weights; None or 0: no limit. Default: train.max_seconds"
    )
    seed: int = 2020


class IterativeRecommender(Recommender):
    """Base for models trained by gradient descent; subclasses yield their mini-batch losses from
    `batch_losses` (or override `train_epoch` for a schedule of their own, as RecVAE does).

    Set `checkpoint_dir` before `fit` to write a checkpoint after every epoch and to resume an
    interrupted run from it. All randomness must come from `self.generator` so a resumed run
    continues exactly where the interrupted one stopped.

    Two extension points: a subclass adds its own per-epoch figures to the training log (and so to
    MLflow's learning curves) through `epoch_diagnostics`; a caller (hyperparameter search, say)
    appends to `epoch_callbacks`, which see each epoch's finished record and may raise to stop.

    After `fit`, `stopped` says why training ended (patience, time or epochs) and `best_epoch` which
    epoch's weights the model holds. Subclasses draw each pass's mini-batches from `epoch_batches`, which
    is what lets torchrun split every batch across processes.
    """

    Config = IterativeConfig
    config: IterativeConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.training_log: list[dict[str, float]] = []
        self.checkpoint_dir: Path | None = None
        self.epoch_callbacks: list[Callable[[dict[str, float]], None]] = []
        self.stopped: str | None = None
        self.best_epoch: int | None = None

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.module.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay
        )

    def epoch_batches(self, n_examples: int, batch_size: int | None = None) -> list[torch.Tensor]:
        """Indices of one pass's mini-batches (of `batch_size`, default the config's) over `n_examples`
        training examples, in a seeded random order; under torchrun, this process's share of each batch
        (distributed.share_of_batches)."""
        batch_size = batch_size or self.config.batch_size
        if distributed.world_size() == 1:
            return list(torch.randperm(n_examples, generator=self.generator).split(batch_size))
        distributed.synchronise_generator(self.generator)
        order = torch.randperm(n_examples, generator=self.generator)
        return distributed.share_of_batches(order, batch_size, self.generator, distributed.rank(),
                                            distributed.world_size())

    @abstractmethod
    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        """The losses of one pass over the training data, one mini-batch at a time: each is stepped on
        before the next is computed."""

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        """One pass over the training data; returns the mean loss."""
        losses = [self.step(optimizer, loss) for loss in self.batch_losses(train)]
        return float(np.mean(losses)) if losses else 0.0

    def epoch_diagnostics(self) -> dict[str, float]:
        """Figures of the epoch just trained to log beside its loss (e.g. a GAN's per-network losses and
        mode-collapse signal); computed after the epoch's updates, before validation."""
        return {}

    @staticmethod
    def step(
        optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters: list[torch.Tensor] | None = None
    ) -> float:
        """One update; with `parameters`, only those receive gradients (RecVAE's alternating updates:
        Adam skips parameters whose gradient is None, so one optimiser behaves like one per part). Under
        torchrun the gradients are averaged over processes first."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=parameters)
        distributed.average_gradients(parameter for group in optimizer.param_groups for parameter in group["params"])
        optimizer.step()
        return loss.item()

    def precision_context(self) -> contextlib.AbstractContextManager:
        if self.config.mixed_precision and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        optimizer = self.make_optimizer()
        # the budget decides only where a run ends, not its path: a run resumes under a changed budget
        run_id = fingerprint(self.name, self.config.model_dump(mode="json", exclude={"max_seconds"}), train)
        best_score, best_state, stale, first_epoch, spent = float("-inf"), None, 0, 1, 0.0
        resumed = load_resumable(self.checkpoint_dir, run_id, self.device)
        if resumed is not None:
            self.module.load_state_dict(resumed["module"])
            optimizer.load_state_dict(resumed["optimizer"])
            self.generator.set_state(resumed["generator"].cpu())
            torch.set_rng_state(resumed["torch_rng"].cpu())
            best_score, stale = resumed["best_score"], resumed["stale"]
            best_state = resumed["best_module"] or None  # saved as {} by a run without validation
            self.training_log = list(resumed["log"])
            first_epoch = resumed["epoch"] + 1
            spent = self.training_log[-1].get("elapsed", 0.0) if self.training_log else 0.0
        self._start_in_step(first_epoch)
        started = time.perf_counter() - spent
        progress = tqdm(range(first_epoch, self.config.epochs + 1), desc=f"train {self.name}", unit="epoch",
                        initial=first_epoch - 1, total=self.config.epochs, disable=not distributed.is_rank_zero())
        self.stopped = STOPPED_EPOCHS
        for epoch in progress:
            reason = self._stop_reason(stale, self.training_log[-1]["elapsed"] if self.training_log else 0.0)
            if reason is not None:
                self.stopped = reason
                break
            epoch_started = time.perf_counter()
            self.module.train()
            with self.precision_context():
                loss = distributed.mean_over_ranks(self.train_epoch(train, optimizer))
            record = {"epoch": epoch, "loss": loss, **self.epoch_diagnostics(),
                      "seconds": time.perf_counter() - epoch_started}
            if valid is not None:
                metric = self.config.selection_metric
                score = distributed.rank_zero_value(partial(validation_metric, self, train, valid, metric))
                record[f"valid_{metric}"] = score
                if score > best_score:
                    best_score, best_state, stale = score, copy.deepcopy(self.module.state_dict()), 0
                else:
                    stale += 1
            # rank 0's clock, so every process stops after the same epoch
            record["elapsed"] = distributed.rank_zero_value(lambda: time.perf_counter() - started)
            self.training_log.append(record)
            progress.set_postfix({k: round(v, 4) for k, v in record.items() if k not in ("epoch", "elapsed")})
            self._checkpoint(run_id, epoch, optimizer, best_score, best_state, stale, finished=False)
            for callback in self.epoch_callbacks:
                callback(record)
        self.best_epoch = self._best_epoch()
        if best_state is not None:
            self.module.load_state_dict(best_state)
        self.module.eval()
        self._checkpoint(run_id, len(self.training_log), optimizer, best_score, best_state, stale, finished=True)
        return self

    def _stop_reason(self, stale: int, elapsed: float) -> str | None:
        """Checked before each epoch, so a run resumed from the checkpoint of its last epoch stops too."""
        if stale >= self.config.patience:
            return STOPPED_PATIENCE
        if self.config.max_seconds and elapsed >= self.config.max_seconds:
            return STOPPED_TIME
        return None

    def _best_epoch(self) -> int | None:
        """The epoch whose weights `fit` keeps: the best on validation, else the last one trained."""
        key = f"valid_{self.config.selection_metric}"
        scored = [record for record in self.training_log if key in record]
        if scored:
            return int(max(scored, key=lambda record: record[key])["epoch"])
        return int(self.training_log[-1]["epoch"]) if self.training_log else None

    def _start_in_step(self, first_epoch: int) -> None:
        """Under torchrun every process starts from rank 0's weights, at the same epoch: a rank that found
        no checkpoint where rank 0 resumed one would otherwise train a different model, or hang."""
        distributed.broadcast_module(self.module)
        agreed = distributed.rank_zero_value(lambda: float(first_epoch))
        if agreed != first_epoch:
            raise RuntimeError(
                f"process {distributed.rank()} would start at epoch {first_epoch} but rank 0 resumes at epoch "
                f"{int(agreed)}: every process must see the same checkpoints/ folder (a shared filesystem)"
            )

    def _checkpoint(self, run_id: str, epoch: int, optimizer: torch.optim.Optimizer, best_score: float,
                    best_state: dict | None, stale: int, finished: bool) -> None:
        if self.checkpoint_dir is None or not distributed.is_rank_zero():
            return
        save_checkpoint(self.checkpoint_dir, {
            "fingerprint": run_id, "finished": finished, "epoch": epoch,
            "module": self.module.state_dict(), "optimizer": optimizer.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "best_score": best_score, "best_module": best_state or {}, "stale": stale, "log": self.training_log,
        })
