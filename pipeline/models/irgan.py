"""IRGAN for item recommendation (Wang et al. 2017, "IRGAN: A minimax game for unifying generative and
discriminative information retrieval models"), as in the authors' item-recommendation code.

Both players are matrix factorisations (`pipeline.models.bpr.factorisation_module`):
- the generator G is pretrained as BPR (the authors start from a pretrained MF) and defines a policy
  over items for each user, p(i | u) = softmax(G(u, .));
- the discriminator D learns to tell a user's observed items (label 1) from items G proposes (label
  0), drawn from softmax(G(u, .) / temperature) over the items the user has not interacted with;
- G is updated by policy gradient (REINFORCE) with D's reward 2 (sigmoid(D(u, i)) - 0.5) for items
  drawn from a mixture of its own policy and the user's observed items, (1 - sample_lambda) p +
  sample_lambda * uniform(observed), with importance weights p / mixture so the estimate stays that
  of the policy's gradient.

Each epoch makes `discriminator_steps` passes of D over the training interactions, then
`generator_steps` passes of G over the users, with one Adam whose parameter groups carry each
network's learning rate. Which network scores (the paper reports G) is chosen on validation:
with `scorer: auto` the better one on validation NDCG after each epoch scores that epoch, and the
choice is a buffer saved with the weights. If no epoch of the game beats the pretrained G on
validation, the pretrained G is kept and the run says so: on data where the game does not pay, IRGAN
is its BPR pretraining, not something worse. Cold users are folded into both networks as for BPR.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from typing import Literal, Self

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.evaluation.protocol import validation_metric
from pipeline.models.autoencoder import row_batches
from pipeline.models.base import ScoringContext
from pipeline.models.bpr import (
    BPR,
    BPRConfig,
    factorisation_module,
    factorisation_pair_logits,
    factorisation_scores,
)
from pipeline.training.adversarial import CollapseConfig, CollapseMonitor
from pipeline.training.fold_in import FoldInConfig, fold_in_user_embeddings
from pipeline.training.objectives import bpr_loss, pointwise_log_loss
from pipeline.training.trainer import IterativeConfig, IterativeRecommender

log = logging.getLogger(__name__)
SCORERS = ("generator", "discriminator")


def _default_pretraining() -> BPRConfig:
    # the settings of models.bpr in params.yaml, chosen on MovieTweetings validation
    return BPRConfig(embedding_dim=64, learning_rate=0.01, batch_size=2048, epochs=100, patience=5)


class IRGANConfig(IterativeConfig, FoldInConfig, CollapseConfig):
    pretraining: BPRConfig = Field(default_factory=_default_pretraining, description="the generator's BPR pretraining; "
                                   "its embedding_dim sizes both networks")
    generator_learning_rate: float = Field(1e-3, gt=0)
    discriminator_learning_rate: float = Field(1e-3, gt=0)
    temperature: float = Field(0.2, gt=0, description="of G's softmax when it proposes negatives to D")
    sample_lambda: float = Field(0.2, ge=0, lt=1, description="share of the policy-gradient sample drawn from the "
                                 "user's observed items")
    generator_samples: int = Field(32, ge=1, description="items sampled per user in each policy-gradient step")
    discriminator_steps: int = Field(1, ge=1, description="passes of D over the interactions per epoch")
    generator_steps: int = Field(1, ge=1, description="passes of G over the users per epoch")
    l2: float = Field(1e-5, ge=0, description="L2 penalty on the embeddings used in each step")
    scorer: Literal["auto", "generator", "discriminator"] = "auto"
    batch_size: int = Field(2048, ge=1, description="interactions per D step; users per G step are a tenth")
    epochs: int = Field(30, ge=1)
    patience: int = Field(5, ge=1)


class IRGAN(IterativeRecommender):
    name = "irgan"
    Config = IRGANConfig
    config: IRGANConfig

    def build_module(self) -> torch.nn.Module:
        dim = self.config.pretraining.embedding_dim
        module = torch.nn.Module()
        module.generator = factorisation_module(self.n_users, self.n_items, dim, self.config.seed)
        module.discriminator = factorisation_module(self.n_users, self.n_items, dim, self.config.seed + 1)
        fixed = SCORERS.index(self.config.scorer) if self.config.scorer in SCORERS else 0
        module.register_buffer("scorer", torch.tensor(fixed))
        module.register_buffer("game_kept", torch.tensor(1))  # 0: the game lost to its pretraining on validation
        return module

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([
            {"params": self.module.generator.parameters(), "lr": self.config.generator_learning_rate},
            {"params": self.module.discriminator.parameters(), "lr": self.config.discriminator_learning_rate},
        ], weight_decay=self.config.weight_decay)

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        """Pretrain G as BPR (deterministic from the seed, so a resumed run pretrains to the same G before
        the checkpoint replaces it), then play the game in the shared training loop. When no epoch of the
        game beats the pretrained G on validation, the pretrained G is kept (`module.game_kept` = 0) and
        a warning says that the adversarial training did not pay."""
        pretraining = BPR(self.config.pretraining.model_copy(update={"seed": self.config.seed}), self.n_users,
                          self.n_items, self.device).fit(train, valid)
        self.module.generator.load_state_dict(pretraining.module.state_dict())
        self._valid = valid
        super().fit(train, valid)
        if valid is None:
            return self
        metric = self.config.selection_metric
        pretrained = validation_metric(pretraining, train, valid, metric)
        played = max(record[f"valid_{metric}"] for record in self.training_log)
        if pretrained >= played:
            log.warning("IRGAN: no adversarial epoch beat the BPR-pretrained generator on validation %s (%.4f >= "
                        "%.4f); keeping the pretrained generator", metric, pretrained, played)
            self.module.generator.load_state_dict(pretraining.module.state_dict())
            self.module.scorer.fill_(0)
        self.module.game_kept.fill_(int(pretrained < played))
        return self

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        discriminator = list(self.module.discriminator.parameters())
        generator = list(self.module.generator.parameters())
        discriminator_losses = [self.step(optimizer, loss, discriminator)
                                for _ in range(self.config.discriminator_steps)
                                for loss in self.discriminator_losses(train)]
        generator_losses = [self.step(optimizer, self.generator_loss(users, rows), generator)
                            for _ in range(self.config.generator_steps)
                            for users, rows in row_batches(train.csr, partial(self.epoch_batches,
                                                           batch_size=max(1, self.config.batch_size // 10)),
                                                           self.device)]
        self._epoch_losses = {"generator_loss": float(np.mean(generator_losses)),
                              "discriminator_loss": float(np.mean(discriminator_losses))}
        self._train = train
        return self._epoch_losses["discriminator_loss"]

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        raise NotImplementedError("IRGAN alternates its networks in train_epoch")

    def discriminator_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        """Observed (user, item) pairs against one item per pair proposed by G, in shuffled batches."""
        known = train.csr
        for positions in self.epoch_batches(len(train)):
            batch = positions.numpy()
            users = torch.from_numpy(train.users[batch]).to(self.device)
            positives = torch.from_numpy(train.items[batch]).to(self.device)
            with torch.no_grad():
                logits = factorisation_scores(self.module.generator, users) / self.config.temperature
                seen = torch.from_numpy(known[train.users[batch]].toarray() > 0).to(self.device)
                proposal = F.softmax(logits.masked_fill(seen, float("-inf")), dim=1)
                negatives = torch.multinomial(proposal.cpu(), 1, generator=self.generator).to(self.device)
            pairs = torch.cat([positives[:, None], negatives], dim=1)
            logits = factorisation_pair_logits(self.module.discriminator, users, pairs)
            yield pointwise_log_loss(logits[:, 0], logits[:, 1:]) + self._penalty(self.module.discriminator, users,
                                                                                    pairs)

    def generator_loss(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """REINFORCE with importance sampling from the mixture of the policy and the observed items."""
        rows = rows.float()
        log_policy = F.log_softmax(factorisation_scores(self.module.generator, users), dim=1)
        with torch.no_grad():
            policy = log_policy.exp()
            observed = rows / rows.sum(dim=1, keepdim=True)
            mixture = (1 - self.config.sample_lambda) * policy + self.config.sample_lambda * observed
            sampled = torch.multinomial(mixture.cpu(), self.config.generator_samples, replacement=True,
                                        generator=self.generator).to(self.device)
            importance = policy.gather(1, sampled) / mixture.gather(1, sampled)
            reward = 2 * (torch.sigmoid(factorisation_pair_logits(self.module.discriminator, users, sampled)) - 0.5)
        surrogate = -(log_policy.gather(1, sampled) * reward * importance).mean()
        return surrogate + self._penalty(self.module.generator, users, sampled)

    def _penalty(self, network: torch.nn.Module, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """L2 on the embeddings a step uses, per user, as BPR's."""
        squares = network.user_embedding(users).pow(2).sum() + network.item_embedding(items).pow(2).sum()
        return self.config.l2 * squares / len(users)

    def epoch_diagnostics(self) -> dict[str, float]:
        figures = dict(self._epoch_losses)
        if self.config.scorer == "auto" and self._valid is not None:
            metric = self.config.selection_metric
            for position, network in enumerate(SCORERS):
                self.module.scorer.fill_(position)
                figures[f"valid_{network}_{metric}"] = validation_metric(self, self._train, self._valid, metric)
            self.module.scorer.fill_(int(figures[f"valid_discriminator_{metric}"] > figures[f"valid_generator_{metric}"]))
        self._monitor = CollapseMonitor.for_training(self._train, self.config, "IRGAN generator",
                                                     getattr(self, "_monitor", None))
        with torch.no_grad():
            probe = torch.from_numpy(self._monitor.users).to(self.device)
            figures.update(self._monitor(factorisation_scores(self.module.generator, probe)))
        figures["scorer"] = float(self.module.scorer.item())
        return figures

    @torch.no_grad()
    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return factorisation_scores(self._scoring_network(), users)

    def _scoring_network(self) -> torch.nn.Module:
        return self.module.discriminator if self.module.scorer.item() == 1 else self.module.generator

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        for network in (self.module.generator, self.module.discriminator):
            fold_in_user_embeddings(self.module, [network.user_embedding], users, history,
                                    partial(factorisation_pair_logits, network), bpr_loss, self.config,
                                    self.config.seed)
