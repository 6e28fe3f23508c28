"""Mult-DAE and Mult-VAE (Liang et al. 2018, "Variational autoencoders for collaborative filtering").

Both encode the L2-normalised, dropout-corrupted history row with a tanh MLP and decode logits over
the whole catalogue, trained with the multinomial log-likelihood, which suits top-N ranking better
than Gaussian or logistic likelihoods (section 2.1). Mult-VAE encodes a Gaussian posterior and adds
a KL term whose weight beta is annealed linearly from 0 to `anneal_cap` over `total_anneal_steps`
updates (section 2.2.2); the update counter is a buffer so a resumed run continues the schedule.
Scoring uses the posterior mean.
"""

from __future__ import annotations

import torch
from pydantic import Field

from pipeline.models.autoencoder import (
    AutoencoderConfig,
    HistoryAutoencoder,
    HistoryEncoder,
    multinomial_log_likelihood,
    sample_gaussian,
)
from pipeline.models.towers import mlp_tower


class MultDAEConfig(AutoencoderConfig):
    hidden_sizes: tuple[int, ...] = Field((600,), min_length=1, description="encoder widths; the decoder mirrors them")
    latent_dim: int = Field(200, ge=1)


class MultVAEConfig(MultDAEConfig):
    anneal_cap: float = Field(0.2, ge=0, description="largest KL weight beta")
    total_anneal_steps: int = Field(20_000, ge=1, description="updates over which beta grows linearly from 0 to 1")


class MultDAE(HistoryAutoencoder):
    name = "multdae"
    Config = MultDAEConfig
    config: MultDAEConfig
    variational = False

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        hidden, latent = list(self.config.hidden_sizes), self.config.latent_dim
        module = torch.nn.Module()
        module.encoder = HistoryEncoder(self.n_items, hidden, 2 * latent if self.variational else latent,
                                        dense=False, activate_output=not self.variational)
        module.decoder = mlp_tower(
            [latent, *reversed(hidden), self.n_items], activate_last=False, activation=torch.nn.Tanh
        )
        return module

    def batch_loss(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        code = self.module.encoder(rows, self.config.dropout, self.generator)
        return -multinomial_log_likelihood(self.module.decoder(code), rows).mean()

    def reconstruct(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.module.decoder(self.module.encoder(rows))


class MultVAE(MultDAE):
    name = "multvae"
    Config = MultVAEConfig
    config: MultVAEConfig
    variational = True

    def build_module(self) -> torch.nn.Module:
        module = super().build_module()
        module.register_buffer("updates", torch.zeros((), dtype=torch.long))
        return module

    def batch_loss(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        mean, log_variance = self.module.encoder(rows, self.config.dropout, self.generator).chunk(2, dim=-1)
        z = sample_gaussian(mean, log_variance, self.generator)
        kl = 0.5 * (mean.pow(2) + log_variance.exp() - log_variance - 1).sum(dim=-1)
        beta = min(self.config.anneal_cap, self.module.updates.item() / self.config.total_anneal_steps)
        self.module.updates += 1
        return (-multinomial_log_likelihood(self.module.decoder(z), rows) + beta * kl).mean()

    def reconstruct(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        mean, _ = self.module.encoder(rows).chunk(2, dim=-1)
        return self.module.decoder(mean)
