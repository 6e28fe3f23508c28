"""The one training loop for gradient-trained models: mini-batch epochs, validation after each epoch,
early stopping on the selection metric, restoring the best weights, a progress bar."""

from __future__ import annotations

import copy
import time
from abc import abstractmethod
from typing import Any, Self

import torch
from pydantic import Field
from tqdm.auto import tqdm

from pipeline.data.interactions import Interactions
from pipeline.evaluation.protocol import validation_metric
from pipeline.models.base import ModelConfig, Recommender


class IterativeConfig(ModelConfig):
    epochs: int = Field(300, ge=1, description="upper bound; early stopping usually ends sooner")
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(2048, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(10, ge=1, description="epochs without validation improvement before stopping")
    selection_metric: str = "ndcg@10"
    seed: int = 2020


class IterativeRecommender(Recommender):
    """Base for models trained by gradient descent; subclasses implement `train_epoch`."""

    Config = IterativeConfig
    config: IterativeConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.training_log: list[dict[str, float]] = []

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.module.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay
        )

    @abstractmethod
    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        """One pass over the training data; returns the mean loss."""

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        optimizer = self.make_optimizer()
        best_score, best_state, stale = float("-inf"), None, 0
        progress = tqdm(range(1, self.config.epochs + 1), desc=f"train {self.name}", unit="epoch")
        for epoch in progress:
            started = time.perf_counter()
            self.module.train()
            loss = self.train_epoch(train, optimizer)
            record = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - started}
            if valid is not None:
                score = validation_metric(self, train, valid, self.config.selection_metric)
                record[f"valid_{self.config.selection_metric}"] = score
                if score > best_score:
                    best_score, best_state, stale = score, copy.deepcopy(self.module.state_dict()), 0
                else:
                    stale += 1
            self.training_log.append(record)
            progress.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
            if stale >= self.config.patience:
                break
        if best_state is not None:
            self.module.load_state_dict(best_state)
        self.module.eval()
        return self
