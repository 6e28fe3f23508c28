"""Matrix factorisation trained with Bayesian Personalised Ranking (Rendle et al. 2009).

Each step samples (user, positive, negative) triples and maximises log sigmoid(s_up - s_un).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext, item_ranges
from pipeline.training.fold_in import FoldInConfig, fold_in_user_embeddings
from pipeline.training.negatives import NegativeSampler
from pipeline.training.objectives import bpr_loss
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


def factorisation_module(n_users: int, n_items: int, dim: int, seed: int) -> torch.nn.Module:
    """User and item embedding tables, Xavier-initialised from `seed`: BPR's parameters, and IRGAN's
    generator and discriminator."""
    torch.manual_seed(seed)
    module = torch.nn.Module()
    module.user_embedding = torch.nn.Embedding(n_users, dim)
    module.item_embedding = torch.nn.Embedding(n_items, dim)
    torch.nn.init.xavier_normal_(module.user_embedding.weight)
    torch.nn.init.xavier_normal_(module.item_embedding.weight)
    return module


def factorisation_scores(module: torch.nn.Module, users: torch.Tensor) -> torch.Tensor:
    """Dot products of `users` [n] with every item: [n, n_items]."""
    return module.user_embedding(users) @ module.item_embedding.weight.T


def factorisation_pair_logits(module: torch.nn.Module, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Scores of `items` [n, m] for `users` [n]."""
    return (module.user_embedding(users).unsqueeze(1) * module.item_embedding(items)).sum(dim=-1)


class BPRConfig(IterativeConfig, FoldInConfig):
    embedding_dim: int = Field(64, ge=1)
    l2: float = Field(1e-5, ge=0, description="L2 penalty on the embeddings used in each step")


class BPR(IterativeRecommender):
    name = "bpr"
    Config = BPRConfig
    config: BPRConfig

    def build_module(self) -> torch.nn.Module:
        return factorisation_module(self.n_users, self.n_items, self.config.embedding_dim, self.config.seed)

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        sampler = getattr(self, "_sampler", None) or NegativeSampler(train, self.generator)
        self._sampler = sampler
        users_all, items_all = torch.from_numpy(train.users), torch.from_numpy(train.items)
        for rows in self.epoch_batches(len(train)):
            users, positives = users_all[rows].to(self.device), items_all[rows].to(self.device)
            negatives = sampler.sample(users)[:, 0]
            user_vectors = self.module.user_embedding(users)
            positive_vectors = self.module.item_embedding(positives)
            negative_vectors = self.module.item_embedding(negatives)
            margin = (user_vectors * (positive_vectors - negative_vectors)).sum(dim=1)
            penalty = user_vectors.pow(2).sum() + positive_vectors.pow(2).sum() + negative_vectors.pow(2).sum()
            loss = -torch.nn.functional.logsigmoid(margin).mean() + self.config.l2 * penalty / len(users)
            yield loss

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return factorisation_scores(self.module, users)

    def iter_item_scores(
        self, users: torch.Tensor, context: ScoringContext, chunk_size: int
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        user_vectors = self.module.user_embedding(users)
        for items in item_ranges(self.n_items, chunk_size):
            yield items, user_vectors @ self.module.item_embedding.weight[items].T

    def pair_logits(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return factorisation_pair_logits(self.module, users, items)

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        fold_in_user_embeddings(self.module, [self.module.user_embedding], users, history, self.pair_logits, bpr_loss,
                                self.config, self.config.seed)
