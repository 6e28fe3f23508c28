"""CDAE (Wu et al. 2016, "Collaborative denoising auto-encoders for top-N recommender systems").

A one-hidden-layer denoising autoencoder over the binary history row whose hidden layer also adds a
per-user vector: h = act(W x~ + V_u + b), scores = W' h + b', trained with the logistic loss over
every item (the paper samples negatives only to save time; the full loss is exact and cheap for
catalogues of this size).

Cold users: their V_u was never trained. Fold-in sets it to the mean vector of the trained users who
share their revealed items (pipeline.training.fold_in.reset_to_audience_mean) and fits nothing: the
history row already carries the revealed items through W, and on MovieTweetings the choice of V_u
for a new user (zero, population mean or audience mean) moved cold-user NDCG@10 by under 0.001,
so gradient fitting would add cost and nondeterminism for no measurable gain.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.autoencoder import AutoencoderConfig, HistoryAutoencoder, corrupt
from pipeline.training.fold_in import reset_to_audience_mean

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}


class CDAEConfig(AutoencoderConfig):
    hidden_dim: int = Field(200, ge=1)
    activation: Literal["sigmoid", "relu", "tanh"] = "relu"
    epochs: int = Field(60, ge=1, description="upper bound; early stopping usually ends sooner")


class CDAE(HistoryAutoencoder):
    name = "cdae"
    Config = CDAEConfig
    config: CDAEConfig

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        module = torch.nn.Module()
        module.user_embedding = torch.nn.Embedding(self.n_users, self.config.hidden_dim)
        module.encoder = torch.nn.Linear(self.n_items, self.config.hidden_dim)
        module.decoder = torch.nn.Linear(self.config.hidden_dim, self.n_items)
        for weight in (module.user_embedding.weight, module.encoder.weight, module.decoder.weight):
            torch.nn.init.xavier_normal_(weight)
        return module

    def _logits(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        hidden = ACTIVATIONS[self.config.activation](self.module.encoder(rows) + self.module.user_embedding(users))
        return self.module.decoder(hidden)

    def batch_loss(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        logits = self._logits(users, corrupt(rows, self.config.dropout, self.generator))
        return F.binary_cross_entropy_with_logits(logits, rows, reduction="none").sum(dim=-1).mean()

    def reconstruct(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self._logits(users, rows)

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        reset_to_audience_mean([self.module.user_embedding], np.unique(np.asarray(users, dtype=np.int64)), history)
