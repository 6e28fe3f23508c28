"""EASE (Steck 2019): a closed-form linear item-item autoencoder with a zero diagonal.

B = I - P / diag(P) with P = (X^T X + l2 I)^-1; scores are X_u B. Memory grows with the square of the
catalogue, so catalogues beyond `max_items` are refused with advice rather than swapping the machine.
"""

from __future__ import annotations

from typing import Self

import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig, Recommender, ScoringContext
from pipeline.models.history import history_rows


class EASEConfig(ModelConfig):
    l2: float = Field(250.0, gt=0, description="L2 regularisation added to the Gram matrix diagonal")
    max_items: int = Field(40_000, ge=1, description="refuse larger catalogues (n_items^2 floats in memory)")


class EASE(Recommender):
    name = "ease"
    Config = EASEConfig
    config: EASEConfig

    def build_module(self) -> torch.nn.Module:
        if self.n_items > self.config.max_items:
            raise ValueError(
                f"EASE needs an {self.n_items}x{self.n_items} matrix; the catalogue exceeds max_items="
                f"{self.config.max_items}. Raise models.ease.max_items if memory allows, or use item-KNN."
            )
        module = torch.nn.Module()
        module.register_buffer("weights", torch.zeros(self.n_items, self.n_items))
        return module

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        matrix = train.csr
        gram = torch.from_numpy((matrix.T @ matrix).toarray()).to(self.device, torch.float64)
        gram.diagonal().add_(self.config.l2)
        precision = torch.linalg.inv(gram)
        weights = -precision / precision.diagonal()
        weights.diagonal().zero_()
        self.module.weights.copy_(weights.float())
        return self

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return history_rows(users, context) @ self.module.weights
