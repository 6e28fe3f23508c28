"""A feature-aware two-tower model (in the spirit of YouTube's candidate generator, Covington et al.
2016, and Wide & Deep, Cheng et al. 2016) that serves warm users, new users and new items.

Item tower: [ID embedding, hashed text words + categories] -> MLP -> (vector, bias). The bias is the
"wide" part: a per-item offset learned from the ID and the features, which carries popularity.
User tower: [mean item-tower vector of the user's history, hashed user attributes] -> MLP -> vector.
Score: user . item vector + item bias, trained with a softmax over the whole catalogue, each observed
interaction predicted from the rest of the user's history (leave-one-out, so the target never leaks
into the input).

The user tower has no per-user parameters, so a new user is served from their attributes and the
items they revealed, with no fold-in. For items, the ID embedding is used only for items seen in
training (the `known_items` buffer); during training it is hidden for a random `id_dropout` share of
items each step (DropoutNet, Volkovs et al. 2017), so the tower learns to score an item from its
features alone, which is how items new at scoring time are served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.features import SideInformation
from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext
from pipeline.models.hashed_features import item_feature_matrix, user_feature_matrix
from pipeline.models.sparse_input import sparse_linear, sparse_matmul, sparse_rows
from pipeline.models.towers import mlp_tower
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


class TwoTowerConfig(IterativeConfig):
    embedding_dim: int = Field(64, ge=1, description="width of ID/feature embeddings and of the tower outputs")
    hidden_sizes: tuple[int, ...] = Field((128,), description="hidden widths of each tower")
    dropout: float = Field(0.3, ge=0, lt=1, description="between tower layers")
    feature_buckets: int = Field(2**12, ge=1, description="hashed feature space for words, categories, attributes")
    id_dropout: float = Field(0.5, ge=0, le=1, description="share of items scored from features alone in each step")
    history_prior: float = Field(0.0, ge=0, description="pseudo-interactions with the average history (the "
                                 "popularity-weighted mean item) in each user's history mean: short histories, "
                                 "such as a new user's, lean on the average taste")
    batch_size: int = Field(1024, ge=1, description="observed interactions per step")
    epochs: int = Field(30, ge=1, description="upper bound; early stopping usually ends sooner")
    patience: int = Field(5, ge=1)


class TwoTowerNetwork(torch.nn.Module):
    def __init__(self, n_items: int, config: TwoTowerConfig):
        super().__init__()
        dim = config.embedding_dim
        self.item_ids = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.item_ids.weight, std=0.01)
        self.item_features = torch.nn.Linear(config.feature_buckets, dim)
        self.item_tower = mlp_tower([2 * dim, *config.hidden_sizes, dim + 1], config.dropout, activate_last=False)
        self.user_features = torch.nn.Linear(config.feature_buckets, dim)
        self.user_tower = mlp_tower([2 * dim, *config.hidden_sizes, dim], config.dropout, activate_last=False)
        self.register_buffer("known_items", torch.zeros(n_items, dtype=torch.bool))
        self.register_buffer("item_share", torch.zeros(n_items))  # of the training interactions
        self.history_prior = config.history_prior

    def items(self, features: torch.Tensor, use_ids: torch.Tensor) -> torch.Tensor:
        """[n_items, dim + 1] item vectors with the bias last; `use_ids` [n_items] selects the items
        whose ID embedding is used."""
        ids = self.item_ids.weight * use_ids.unsqueeze(1).to(self.item_ids.weight.dtype)
        return self.item_tower(torch.cat([ids, sparse_linear(features, self.item_features)], dim=1))

    def history_means(self, sums: torch.Tensor, counts: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """[b, dim] mean item vector of each history from its sum [b, dim] and number of interactions [b],
        with `history_prior` pseudo-interactions of the average history mixed in; empty histories give 0."""
        average = self.item_share @ vectors
        weights = counts.to(sums.dtype).unsqueeze(1) + self.history_prior
        return (sums + self.history_prior * average) / torch.where(weights > 0, weights, 1)

    def users(self, history: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """[b, dim] user vectors from mean history vectors [b, dim] and sparse attribute rows."""
        return self.user_tower(torch.cat([history, sparse_linear(attributes, self.user_features)], dim=1))

    @staticmethod
    def logits(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return users @ items[:, :-1].T + items[:, -1]


class TwoTower(IterativeRecommender):
    name = "twotower"
    Config = TwoTowerConfig
    config: TwoTowerConfig
    unsupported_regimes: ClassVar[dict[str, str]] = {}  # new items are scored from their features

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._features: dict[str, tuple[object, sp.csr_matrix]] = {}

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        return TwoTowerNetwork(self.n_items, self.config)

    def _side_matrix(self, kind: str, side: SideInformation | None) -> sp.csr_matrix:
        """Hashed item or user features, rebuilt only when the side information changes."""
        cached = self._features.get(kind)
        if cached is None or cached[0] is not side:
            if kind == "items":
                matrix = item_feature_matrix(side, self.n_items, self.config.feature_buckets)
            else:
                matrix = user_feature_matrix(side, self.n_users, self.config.feature_buckets)
            self._features[kind] = (side, matrix)
        return self._features[kind][1]

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        self.module.known_items.copy_(torch.from_numpy(train.item_counts > 0))
        self.module.item_share.copy_(torch.from_numpy(train.item_counts / max(len(train), 1)))
        return super().fit(train, valid)

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        item_features = sparse_rows(self._side_matrix("items", train.side), np.arange(self.n_items), self.device)
        user_features = self._side_matrix("users", train.side)
        histories = train.csr
        counts = torch.from_numpy(np.asarray(histories.sum(axis=1)).ravel()).to(self.device)  # repeats count
        users_all, items_all = torch.from_numpy(train.users), torch.from_numpy(train.items)
        for rows in self.epoch_batches(len(train)):
            users, targets = users_all[rows].to(self.device), items_all[rows].to(self.device)
            hidden = torch.rand(self.n_items, generator=self.generator).to(self.device) < self.config.id_dropout
            items = self.module.items(item_features, self.module.known_items & ~hidden)
            vectors = items[:, :-1]
            # leave-one-out mean of the history: the target item is removed from its own input
            history_sum = sparse_matmul(sparse_rows(histories, users, self.device), vectors) - vectors[targets]
            history = self.module.history_means(history_sum, counts[users] - 1, vectors)
            user_vectors = self.module.users(history, sparse_rows(user_features, users, self.device))
            # items without training interactions are unlabelled, not negatives: keep them out of the softmax
            logits = self.module.logits(user_vectors, items).float().masked_fill(~self.module.known_items, float("-inf"))
            loss = F.cross_entropy(logits, targets)
            yield loss

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        side = context.history.side
        item_features = sparse_rows(self._side_matrix("items", side), np.arange(self.n_items), self.device)
        items = self.module.items(item_features, self.module.known_items)
        histories = context.history.csr[users.cpu().numpy()]
        counts = torch.from_numpy(np.asarray(histories.sum(axis=1)).ravel()).to(self.device)
        sums = sparse_matmul(sparse_rows(histories, np.arange(len(counts)), self.device), items[:, :-1])
        history = self.module.history_means(sums, counts, items[:, :-1])
        user_vectors = self.module.users(history, sparse_rows(self._side_matrix("users", side), users, self.device))
        return self.module.logits(user_vectors, items)
