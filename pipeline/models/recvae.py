"""RecVAE (Shenbin et al. 2020, "RecVAE: a new variational autoencoder for Top-N recommendations
with implicit feedback").

Mult-VAE with four changes, each as in the paper and its reference implementation:
- a densely connected encoder with swish and layer normalisation (HistoryEncoder(dense=True)) and a
  single linear decoder;
- a composite prior: a mixture of N(0, I), the posterior of the encoder as it was after the previous
  epoch's encoder updates (kept frozen in `module.previous_encoder`), and a wide N(0, e^10 I), which
  stops the encoder from drifting and forgetting;
- a user-specific KL weight beta = gamma * |history|;
- alternating updates: each epoch makes `encoder_epochs` passes updating only the encoder, on
  dropout-corrupted (denoised) input, then `decoder_epochs` passes updating only the decoder, on
  uncorrupted input.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.autoencoder import (
    AutoencoderConfig,
    HistoryAutoencoder,
    HistoryEncoder,
    gaussian_log_density,
    multinomial_log_likelihood,
    sample_gaussian,
)

MIXTURE_WEIGHTS = (3 / 20, 3 / 4, 1 / 10)  # standard normal, previous posterior, wide normal
WIDE_LOG_VARIANCE = 10.0


class RecVAEConfig(AutoencoderConfig):
    hidden_dim: int = Field(300, ge=1, description="the paper's 600 is no better here and twice as slow")
    encoder_layers: int = Field(5, ge=1, description="densely connected encoder layers")
    latent_dim: int = Field(200, ge=1)
    gamma: float = Field(0.01, ge=0, description="KL weight per history item (beta = gamma * |history|)")
    encoder_epochs: int = Field(3, ge=1, description="encoder-only passes per epoch")
    decoder_epochs: int = Field(1, ge=1, description="decoder-only passes per epoch")
    learning_rate: float = 5e-4
    batch_size: int = Field(256, ge=1, description="users per step")
    epochs: int = Field(25, ge=1, description="each epoch is encoder_epochs + decoder_epochs passes")
    patience: int = Field(8, ge=1)


class RecVAE(HistoryAutoencoder):
    name = "recvae"
    Config = RecVAEConfig
    config: RecVAEConfig

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        module = torch.nn.Module()
        module.encoder = self._encoder()
        module.previous_encoder = self._encoder().requires_grad_(False)
        module.previous_encoder.load_state_dict(module.encoder.state_dict())
        module.decoder = torch.nn.Linear(self.config.latent_dim, self.n_items)
        return module

    def _encoder(self) -> HistoryEncoder:
        hidden = [self.config.hidden_dim] * self.config.encoder_layers
        return HistoryEncoder(self.n_items, hidden, 2 * self.config.latent_dim, dense=True, activate_output=False)

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        encoder = list(self.module.encoder.parameters())
        decoder = list(self.module.decoder.parameters())
        losses = [
            self.step(optimizer, self.batch_loss(users, rows), encoder)
            for _ in range(self.config.encoder_epochs)
            for users, rows in self.user_batches(train)
        ]
        self.module.previous_encoder.load_state_dict(self.module.encoder.state_dict())
        for _ in range(self.config.decoder_epochs):
            for users, rows in self.user_batches(train):
                self.step(optimizer, self.batch_loss(users, rows, dropout=0.0), decoder)
        return float(np.mean(losses)) if losses else 0.0

    def batch_loss(self, users: torch.Tensor, rows: torch.Tensor, dropout: float | None = None) -> torch.Tensor:
        """Negative ELBO with the composite prior, estimated with one posterior sample."""
        dropout = self.config.dropout if dropout is None else dropout
        mean, log_variance = self.module.encoder(rows, dropout, self.generator).chunk(2, dim=-1)
        z = sample_gaussian(mean, log_variance, self.generator)
        kl = (gaussian_log_density(z, mean, log_variance) - self._log_prior(rows, z)).sum(dim=-1)
        beta = self.config.gamma * rows.sum(dim=-1)
        return (-multinomial_log_likelihood(self.module.decoder(z), rows) + beta * kl).mean()

    def _log_prior(self, rows: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            previous_mean, previous_log_variance = self.module.previous_encoder(rows).chunk(2, dim=-1)
        zeros = torch.zeros_like(z)
        components = (
            gaussian_log_density(z, zeros, zeros),
            gaussian_log_density(z, previous_mean, previous_log_variance),
            gaussian_log_density(z, zeros, torch.full_like(z, WIDE_LOG_VARIANCE)),
        )
        weighted = [density + math.log(weight) for density, weight in zip(components, MIXTURE_WEIGHTS, strict=True)]
        return torch.logsumexp(torch.stack(weighted, dim=-1), dim=-1)

    def reconstruct(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        mean, _ = self.module.encoder(rows).chunk(2, dim=-1)
        return self.module.decoder(mean)
