"""CFGAN (Chae et al. 2018, "CFGAN: A generic collaborative filtering framework based on generative
adversarial networks"), CFGAN_ZP: the variant with both negative-sampling schemes.

The generator G maps a condition, the user's binary purchase vector c_u, to a whole vector of
purchase scores r^_u (sigmoid outputs) in one shot: vector-wise generation, with no noise input (the
paper found the condition alone enough). The discriminator D sees the condition with either the
real vector (c_u itself) or the generated one, masked to the purchased items e_u plus a partial-
masking (PM) sample k_u of unpurchased items: r^_u * (e_u + k_u). Masking keeps D from winning by
spotting that real vectors are zero everywhere else; PM asks G to keep some unpurchased items low.
Zero reconstruction (ZR) adds to G's loss the squared output on a second sample of unpurchased items,
weighted by `zr_coefficient`, pulling them towards 0. Both samples take `zr_ratio` / `pm_ratio` of
each user's unpurchased items and are redrawn for every mini-batch, from the model's generator.

Losses as in the paper (eq. 3-4 plus ZR): D minimises -log D(c, c) - log(1 - D(c, r^ masked)); G
minimises log(1 - D(c, r^ masked)) + alpha * sum over ZR items of r^^2. Each epoch makes
`discriminator_steps` passes updating D, then `generator_steps` passes updating G, with one Adam over
both networks whose updates touch one network at a time (`IterativeRecommender.step`), so
checkpoints and exact resume work as for every model. Ours, all off by default except early stopping
on validation: `generator_objective: non_saturating` (-log D(fake), the usual fix when D wins) and
`condition_dropout`, which zeroes part of G's input so G must regenerate items it was not shown
(without it, copying the condition is a perfect answer on the purchased items); D still judges against
the whole row. Also ours, off in the class: `reconstruction_coefficient`, the squared distance of G's output
from 1 on the purchased items, ZR's counterpart on the positives. Replications found that CFGAN works
as an autoencoder trained by its ZR term; this term makes that explicit, and on MovieTweetings it is what
keeps G from collapsing onto the popularity list while D wins the game (docs/models.md).

Scoring feeds the context's history row to G: a new user is served from the items they revealed,
with no fold-in. `mode: item` is the paper's item-based CFGAN: conditions are items' columns (who
bought the item) and G generates columns; a user's scores are their entries in the generated columns.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.autoencoder import corrupt, row_batches
from pipeline.models.base import ScoringContext
from pipeline.models.history import history_rows
from pipeline.models.towers import mlp_tower
from pipeline.training.adversarial import CollapseConfig, CollapseMonitor
from pipeline.training.trainer import IterativeConfig, IterativeRecommender

ITEM_SCORING_CHUNK = 1024  # item columns generated at once when scoring in item mode
HIDDEN_ACTIVATIONS: dict[str, type[torch.nn.Module]] = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}


class CFGANConfig(IterativeConfig, CollapseConfig):
    # reference settings of the authors' code for ML-100K; the defaults in params.yaml are chosen on
    # MovieTweetings validation (docs/models.md)
    mode: Literal["user", "item"] = Field("user", description="condition on users' rows or items' columns")
    generator_hidden: tuple[int, ...] = Field((400,), min_length=1)
    discriminator_hidden: tuple[int, ...] = Field((125,), min_length=1)
    hidden_activation: Literal["sigmoid", "relu"] = Field(
        "relu", description="activation of both networks' hidden layers; the paper's is sigmoid, which learnt more "
        "slowly on MovieTweetings validation (docs/models.md)")
    learning_rate: float = 1e-4
    batch_size: int = Field(32, ge=1, description="conditions (users, or items in item mode) per step")
    generator_steps: int = Field(4, ge=1, description="passes updating G per epoch")
    discriminator_steps: int = Field(2, ge=1, description="passes updating D per epoch")
    zr_ratio: float = Field(0.7, ge=0, le=1, description="share of unpurchased items in the ZR sample")
    pm_ratio: float = Field(0.7, ge=0, le=1, description="share of unpurchased items in the PM sample")
    zr_coefficient: float = Field(0.03, ge=0, description="weight alpha of the ZR term in G's loss")
    generator_objective: Literal["minimax", "non_saturating"] = Field(
        "minimax", description="G's adversarial term: the paper's log(1 - D(fake)), or -log D(fake), which keeps "
        "G's gradient alive while D wins (Goodfellow et al. 2014)")
    condition_dropout: float = Field(0.0, ge=0, lt=1, description="share of the condition's entries zeroed in "
                                     "training (ours; 0 is the paper): G must then regenerate items it was not shown")
    reconstruction_coefficient: float = Field(
        0.0, ge=0, description="weight of a squared-error term pulling G's output on the purchased items towards 1 "
        "(ours; 0 is the paper): ZR's counterpart on the positives, so G is also trained as a denoising autoencoder")
    epochs: int = Field(200, ge=1, description="upper bound; early stopping usually ends sooner")
    patience: int = Field(10, ge=1)


class CFGAN(IterativeRecommender):
    name = "cfgan"
    Config = CFGANConfig
    config: CFGANConfig

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        width = self.n_items if self.config.mode == "user" else self.n_users
        module = torch.nn.Module()
        activation = HIDDEN_ACTIVATIONS[self.config.hidden_activation]
        module.generator = torch.nn.Sequential(
            mlp_tower([width, *self.config.generator_hidden, width], activate_last=False, activation=activation),
            torch.nn.Sigmoid(),
        )
        module.discriminator = mlp_tower([2 * width, *self.config.discriminator_hidden, 1], activate_last=False,
                                         activation=activation)
        return module

    def conditions(self, interactions: Interactions) -> sp.csr_matrix:
        """One row per condition: users' purchase rows, or items' columns in item mode."""
        matrix = interactions.csr
        return matrix if self.config.mode == "user" else matrix.T.tocsr()

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        matrix = self.conditions(train)
        discriminator = list(self.module.discriminator.parameters())
        generator = list(self.module.generator.parameters())
        discriminator_losses = [
            self.step(optimizer, self.discriminator_loss(rows), discriminator)
            for _ in range(self.config.discriminator_steps)
            for _, rows in row_batches(matrix, self.epoch_batches, self.device)
        ]
        generator_losses = [
            self.step(optimizer, self.generator_loss(rows), generator)
            for _ in range(self.config.generator_steps)
            for _, rows in row_batches(matrix, self.epoch_batches, self.device)
        ]
        self._epoch_losses = {"generator_loss": float(np.mean(generator_losses)),
                              "discriminator_loss": float(np.mean(discriminator_losses))}
        self._train = train
        return self._epoch_losses["generator_loss"]

    def batch_losses(self, train: Interactions):  # noqa: ANN201 (train_epoch replaces the per-batch loop)
        raise NotImplementedError("CFGAN alternates its networks in train_epoch")

    def _unpurchased_sample(self, rows: torch.Tensor, ratio: float) -> torch.Tensor:
        """Each unpurchased entry kept with probability `ratio`: the expected share the paper samples."""
        draw = torch.rand(rows.shape, generator=self.generator).to(rows.device)
        return ((draw < ratio) & (rows == 0)).float()

    def _masked_fake(self, condition: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        generated = self.module.generator(condition)
        mask = rows + self._unpurchased_sample(rows, self.config.pm_ratio)
        return generated, generated * mask

    def _judge(self, rows: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """D's logit for (condition, vector), the condition being the whole row even when G's input was
        dropped out: shown the thinned row, D cannot tell a PM item from a purchased item it was not shown,
        and G wins by scoring every item near 1 for everyone (the collapse in docs/models.md)."""
        return self.module.discriminator(torch.cat([rows, vectors], dim=1)).squeeze(1)

    def discriminator_loss(self, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.float()
        with torch.no_grad():
            _, fake = self._masked_fake(corrupt(rows, self.config.condition_dropout, self.generator), rows)
        # -log D(real) - log(1 - D(fake)) with D = sigmoid(logit)
        return (F.softplus(-self._judge(rows, rows)) + F.softplus(self._judge(rows, fake))).mean()

    def generator_loss(self, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.float()
        generated, fake = self._masked_fake(corrupt(rows, self.config.condition_dropout, self.generator), rows)
        zero_reconstruction = (generated.pow(2) * self._unpurchased_sample(rows, self.config.zr_ratio)).sum(dim=1)
        logit = self._judge(rows, fake)
        # log(1 - D(fake)) = -softplus(logit); -log D(fake) = softplus(-logit)
        adversarial = -F.softplus(logit) if self.config.generator_objective == "minimax" else F.softplus(-logit)
        reconstruction = ((1 - generated).pow(2) * rows).sum(dim=1)
        return (adversarial + self.config.zr_coefficient * zero_reconstruction
                + self.config.reconstruction_coefficient * reconstruction).mean()

    def epoch_diagnostics(self) -> dict[str, float]:
        self._monitor = CollapseMonitor.for_training(self._train, self.config, "CFGAN generator",
                                                     getattr(self, "_monitor", None))
        generated = self.score(torch.from_numpy(self._monitor.users).to(self.device), ScoringContext(self._train))
        return {**self._epoch_losses, **self._monitor(generated)}

    @torch.no_grad()
    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        if self.config.mode == "user":
            return self.module.generator(history_rows(users, context).float())
        columns = self.conditions(context.history)
        generated = [
            self.module.generator(torch.from_numpy(columns[start : start + ITEM_SCORING_CHUNK].toarray())
                                  .to(self.device))[:, users]
            for start in range(0, columns.shape[0], ITEM_SCORING_CHUNK)
        ]
        return torch.cat(generated).T
