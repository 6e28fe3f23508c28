"""A new-user GAN in the spirit of ColdGAN (Chen et al. 2023): a generator maps what a new user reveals
(their first k items, and their attributes where the data has them) to a preference vector over the
catalogue, trained adversarially against warm users' real vectors.

Training simulates new users from warm ones: each user in a batch reveals either their first k items in
time (k drawn from `reveal_sizes`, the cold-user regimes' sizes) or, with probability
`full_history_share`, a random share of their whole history, so the same generator also serves warm
users. The generator (the Mult-DAE encoder/decoder of pipeline/models/autoencoder.py, plus hashed user
attributes added to its code) outputs logits over items; its reconstruction loss is the multinomial
likelihood of the items the user did NOT reveal, which keeps it from merely fooling the discriminator
(the reconstruction term of the CFGAN line, Chae et al. 2018).

The discriminator sees the condition (the revealed row) and a vector over items, masked as CFGAN
does: only the hidden items and `mask_negatives` sampled items per user are visible. The real vector
is 1 at the hidden items, the generated one the generator's probabilities scaled to the number of
hidden items. The two networks take turns on every batch with one optimiser (`step(..., parameters)`),
so checkpoints and exact resume work as for every other model. A new user is scored straight from the
revealed history row, like the autoencoders, so no fold-in is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.features import SideInformation
from pipeline.data.interactions import Interactions
from pipeline.models.autoencoder import HistoryEncoder, multinomial_log_likelihood, row_batches
from pipeline.models.base import ScoringContext
from pipeline.models.hashed_features import user_feature_matrix
from pipeline.models.history import history_rows
from pipeline.models.sparse_input import sparse_linear, sparse_rows
from pipeline.models.towers import mlp_tower
from pipeline.training.adversarial import CollapseConfig, CollapseMonitor
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


class ColdGANConfig(IterativeConfig, CollapseConfig):
    hidden_sizes: tuple[int, ...] = Field((600,), min_length=1, description="generator encoder widths; the "
                                          "decoder mirrors them")
    latent_dim: int = Field(200, ge=1)
    discriminator_hidden: int = Field(128, ge=1)
    reveal_sizes: tuple[int, ...] = Field((1, 3, 5), min_length=1, description="simulated new users reveal "
                                          "their first k items in time, k drawn from these")
    full_history_share: float = Field(0.5, ge=0, le=1, description="share of simulated users revealing a random "
                                      "share of their whole history instead (how warm users are served)")
    history_dropout: float = Field(0.5, ge=0, lt=1, description="share of the whole history hidden for those")
    adversarial_weight: float = Field(0.1, ge=0, description="weight of fooling the discriminator against the "
                                      "reconstruction loss; 0 trains the generator alone")
    mask_negatives: int = Field(20, ge=0, description="sampled unobserved items per user the discriminator sees "
                                "beside the hidden ones (CFGAN's partial masking)")
    attribute_buckets: int = Field(2**10, ge=1, description="hashed user-attribute space (unused without attributes)")
    batch_size: int = Field(512, ge=1, description="users per step")
    # chosen on the cold-user validation half: with patience 3 the run stopped at epoch 8 while still
    # collapsed onto the popularity list; it leaves it around epoch 19 (docs/models.md)
    epochs: int = Field(40, ge=1, description="upper bound; early stopping on warm validation usually ends sooner")
    patience: int = Field(10, ge=1)


class ColdGANNetwork(torch.nn.Module):
    def __init__(self, n_items: int, config: ColdGANConfig):
        super().__init__()
        hidden, latent = list(config.hidden_sizes), config.latent_dim
        self.encoder = HistoryEncoder(n_items, hidden, latent, dense=False, activate_output=True)
        self.attributes = torch.nn.Linear(config.attribute_buckets, latent)
        torch.nn.init.zeros_(self.attributes.weight)
        self.decoder = mlp_tower([latent, *reversed(hidden), n_items], activate_last=False, activation=torch.nn.Tanh)
        self.condition = torch.nn.Linear(n_items, config.discriminator_hidden)
        self.vector = torch.nn.Linear(n_items, config.discriminator_hidden)
        self.critic = mlp_tower([config.discriminator_hidden, config.discriminator_hidden, 1], activate_last=False)

    def generate(self, revealed: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Logits [b, n_items] from dense revealed rows and sparse attribute rows."""
        return self.decoder(self.encoder(revealed) + sparse_linear(attributes, self.attributes))

    def discriminate(self, revealed: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Logit [b] that `vectors` are real preference vectors of users who revealed `revealed`."""
        hidden = F.relu(self.condition(revealed.float()) + self.vector(vectors))
        return self.critic(hidden).squeeze(-1)

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.encoder.parameters(), *self.attributes.parameters(), *self.decoder.parameters()]

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.condition.parameters(), *self.vector.parameters(), *self.critic.parameters()]


class ColdGAN(IterativeRecommender):
    name = "cold_gan"
    Config = ColdGANConfig
    config: ColdGANConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._attributes: tuple[SideInformation | None, sp.csr_matrix] | None = None
        self._monitor: CollapseMonitor | None = None
        self._probe: tuple[torch.Tensor, torch.Tensor] | None = None
        self._epoch_losses: dict[str, list[float]] = {}

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        return ColdGANNetwork(self.n_items, self.config)

    def attribute_rows(self, users: np.ndarray, side: SideInformation | None) -> torch.Tensor:
        if self._attributes is None or self._attributes[0] is not side:
            self._attributes = (side, user_feature_matrix(side, self.n_users, self.config.attribute_buckets))
        return sparse_rows(self._attributes[1], users, self.device)

    def fit(self, train: Interactions, valid: Interactions | None = None) -> ColdGAN:
        self._monitor = CollapseMonitor.for_training(train, self.config, self.name)
        self._probe = self._probe_inputs(train, self._monitor.users)
        return super().fit(train, valid)

    def simulated_new_users(self, train: Interactions, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(revealed, hidden) dense binary rows [len(users), n_items] of warm users posing as new ones."""
        order, offsets = train.time_order, train.user_offsets
        spans = [np.arange(offsets[user], offsets[user + 1]) for user in users]
        positions = np.concatenate(spans)
        rows = np.repeat(np.arange(len(users)), [len(span) for span in spans])
        rank = positions - offsets[users][rows]  # position of each interaction in its user's time order
        sizes = torch.tensor(self.config.reveal_sizes)
        k = sizes[torch.randint(len(sizes), (len(users),), generator=self.generator)].numpy()
        whole = (torch.rand(len(users), generator=self.generator) < self.config.full_history_share).numpy()
        kept = (torch.rand(len(positions), generator=self.generator) >= self.config.history_dropout).numpy()
        reveal = np.where(whole[rows], kept, rank < k[rows])
        items = torch.from_numpy(train.items[order[positions]])
        full = torch.zeros(len(users), self.n_items)
        full[rows, items] = 1.0
        revealed = torch.zeros(len(users), self.n_items)
        revealed[rows[reveal], items[reveal]] = 1.0
        return revealed.to(self.device), (full * (1 - revealed)).to(self.device)

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        """Per batch of users, the discriminator's loss and then the generator's; each is computed after
        the previous one was stepped on, so the generator plays against the just-updated discriminator."""
        network: ColdGANNetwork = self.module  # type: ignore[assignment]
        adversarial = self.config.adversarial_weight > 0
        for users, _ in row_batches(train.csr, self.epoch_batches, self.device):
            users = users.cpu().numpy()
            revealed, hidden = self.simulated_new_users(train, users)
            attributes = self.attribute_rows(users, train.side)
            visible = self._discriminator_mask(hidden)
            if adversarial:
                with torch.no_grad():
                    fake = self._generated_vectors(network.generate(revealed, attributes), hidden) * visible
                real_logits, fake_logits = network.discriminate(revealed, hidden * visible), network.discriminate(
                    revealed, fake)
                discriminator_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
                self._epoch_losses["discriminator_loss"].append(discriminator_loss.item())
                yield discriminator_loss
            logits = network.generate(revealed, attributes)
            reconstruction = -multinomial_log_likelihood(logits, hidden).mean()
            self._epoch_losses["reconstruction_loss"].append(reconstruction.item())
            if not adversarial:
                yield reconstruction
                continue
            fooled = network.discriminate(revealed, self._generated_vectors(logits, hidden) * visible)
            adversarial_loss = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
            self._epoch_losses["generator_loss"].append(adversarial_loss.item())
            yield reconstruction + self.config.adversarial_weight * adversarial_loss

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        """Alternating updates with one optimiser: each loss steps only its own network's parameters."""
        network: ColdGANNetwork = self.module  # type: ignore[assignment]
        turns = [network.generator_parameters()]
        if self.config.adversarial_weight > 0:
            turns.insert(0, network.discriminator_parameters())
        self._epoch_losses = {"generator_loss": [], "discriminator_loss": [], "reconstruction_loss": []}
        for loss, parameters in zip(self.batch_losses(train), itertools.cycle(turns)):
            self.step(optimizer, loss, parameters)
        return float(np.mean(self._epoch_losses["reconstruction_loss"]))

    def _discriminator_mask(self, hidden: torch.Tensor) -> torch.Tensor:
        """CFGAN's partial masking: the hidden items plus `mask_negatives` random items per user."""
        visible = hidden.clone()
        if self.config.mask_negatives:
            sampled = torch.randint(self.n_items, (len(hidden), self.config.mask_negatives), generator=self.generator)
            visible.scatter_(1, sampled.to(self.device), 1.0)
        return visible

    @staticmethod
    def _generated_vectors(logits: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Probabilities scaled to the number of hidden items: on the real vectors' scale."""
        return F.softmax(logits.float(), dim=-1) * hidden.sum(dim=-1, keepdim=True)

    def _probe_inputs(self, train: Interactions, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe users posing as new users who reveal their first max(reveal_sizes) items: the
        collapse watch compares what is generated for them with their real rows, epoch after epoch."""
        order, offsets = train.time_order, train.user_offsets
        k = max(self.config.reveal_sizes)
        revealed = torch.zeros(len(users), self.n_items)
        for row, user in enumerate(users):
            revealed[row, train.items[order[offsets[user] : min(offsets[user] + k, offsets[user + 1])]]] = 1.0
        return revealed.to(self.device), self.attribute_rows(users, train.side)

    def epoch_diagnostics(self) -> dict[str, float]:
        figures = {key: float(np.mean(values)) for key, values in self._epoch_losses.items() if values}
        if self._monitor is not None and self._probe is not None:
            with torch.no_grad():
                self.module.eval()
                figures.update(self._monitor(self.module.generate(*self._probe)))
                self.module.train()
        return figures

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        attributes = self.attribute_rows(users.cpu().numpy(), context.history.side)
        return self.module.generate(history_rows(users, context).float(), attributes)

