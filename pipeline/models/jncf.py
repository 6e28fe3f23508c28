"""J-NCF (Chen et al. 2019, "Joint neural collaborative filtering for recommender systems").

Instead of free embeddings, a user is represented by their rating vector (their row of the
interaction matrix) and an item by its rating vector (its column), each L2-normalised and passed
through a feature network (DF). The two features are combined (concatenated or multiplied) and an
interaction network (DI) predicts y_ui = sigmoid(h^T DI(...)). Feature extraction and interaction
modelling are trained jointly with
    L = alpha * L_pair + (1 - alpha) * L_point,
where L_point is the log loss over observed pairs and sampled negatives and L_pair is the TOP1-style
pairwise loss of the paper, sigmoid(y_uj - y_ui) + sigmoid(y_uj^2), on the predicted probabilities.

One deliberate departure: while training, the observed pair being predicted is removed from both
rating vectors. Otherwise the network learns to find the target in its own input, which it never
can at scoring time (held-out items are never part of the history); on planted data the faithful
variant barely beats popularity and this one learns the structure.

Because a user is their history, the model scores users absent from training from the items they
revealed (no fold-in), and the item vectors are read from the scoring context's history, so
interactions revealed after training inform the item side too. Trained on whole rating vectors, the
feature network cannot read a one-item vector (planted-data NDCG@10 of new users with one revealed
item: 0.32); `history_dropout` (not in the paper; the autoencoders' input dropout) hides a share of
each training vector so it learns short ones too (0.79 at 0.8).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext
from pipeline.models.sparse_input import drop_entries, keep_entries, normalize_rows, sparse_linear, sparse_rows
from pipeline.models.towers import mlp_tower
from pipeline.training.objectives import pointwise_log_loss
from pipeline.training.sampled import SampledNegativesConfig, SampledNegativesRecommender

SCORING_CHUNK = 128  # users scored against the whole catalogue at once: bounds the [chunk, items, hidden] tensor


class JNCFConfig(SampledNegativesConfig):
    feature_layers: tuple[int, ...] = Field((256, 128, 64), min_length=1, description="DF network widths")
    interaction_layers: tuple[int, ...] = Field((64,), min_length=1, description="DI network widths")
    combination: Literal["concat", "product"] = "concat"
    alpha: float = Field(0.7, ge=0, le=1, description="weight of the pairwise loss (1 - alpha: pointwise loss)")
    batch_size: int = Field(256, ge=1, description="observed interactions per step")
    epochs: int = Field(20, ge=1, description="upper bound; validation peaks within a few epochs")
    patience: int = Field(5, ge=1)
    history_dropout: float = Field(0.0, ge=0, lt=1, description="share of each training user's rating vector "
                                   "hidden from the feature network; 0: the paper's model")


def top1_pairwise_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """J-NCF's pairwise loss on probabilities [n] and [n, k]: rank positives above negatives and push
    negatives toward zero."""
    return (torch.sigmoid(negative - positive.unsqueeze(1)) + torch.sigmoid(negative.pow(2))).mean()


def without_pair(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Sparse binary rows with entry (r, columns[r]) removed from each row r."""
    indices = rows.indices()
    return keep_entries(rows, indices[1] != columns[indices[0]])


class JNCFNetwork(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, config: JNCFConfig):
        super().__init__()
        self.combination = config.combination
        self.user_features = mlp_tower([n_items, *config.feature_layers])
        self.item_features = mlp_tower([n_users, *config.feature_layers])
        width = config.feature_layers[-1] * (2 if config.combination == "concat" else 1)
        self.interaction = mlp_tower([width, *config.interaction_layers])
        self.output = torch.nn.Linear(config.interaction_layers[-1], 1)

    @staticmethod
    def features(tower: torch.nn.Sequential, vectors: torch.Tensor) -> torch.Tensor:
        """A DF network on sparse rating vectors: the first layer as a sparse product."""
        return tower[1:](sparse_linear(vectors, tower[0]))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits from user features [n, d] and item features [n or 1, m, d] -> [n, m]."""
        first = self.interaction[0]
        if self.combination == "concat":  # W [f_u, f_i] = W_u f_u + W_i f_i, broadcast over the items
            width = users.shape[-1]
            hidden = F.linear(users, first.weight[:, :width]).unsqueeze(1) + F.linear(
                items, first.weight[:, width:], first.bias
            )
        else:
            hidden = first(users.unsqueeze(1) * items)
        return self.interaction[1:](hidden) @ self.output.weight[0] + self.output.bias


class JNCF(SampledNegativesRecommender):
    name = "jncf"
    Config = JNCFConfig
    config: JNCFConfig

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        return JNCFNetwork(self.n_users, self.n_items, self.config)

    def _rating_matrices(self, interactions: Interactions) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """User rows and item rows (the transposed matrix) of `interactions`, kept for the last history
        seen: training reuses one, an evaluation scores every batch against one."""
        if getattr(self, "_matrices_source", None) is not interactions:
            self._matrices = interactions.csr, interactions.csr.T.tocsr()
            self._matrices_source = interactions
        return self._matrices

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        self._training_matrices = self._rating_matrices(train)
        return super().train_epoch(train, optimizer)

    def candidate_loss(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        user_matrix, item_matrix = self._training_matrices
        positives = candidates[:, 0]
        negatives, positions = torch.unique(candidates[:, 1:], return_inverse=True)
        # the observed pair is removed from both rating vectors: a held-out item is never part of the
        # history it is scored from, so training must not let the network find it there
        user_rows = without_pair(sparse_rows(user_matrix, users, self.device), positives)
        user_inputs = normalize_rows(drop_entries(user_rows, self.config.history_dropout, self.generator))
        positive_inputs = normalize_rows(without_pair(sparse_rows(item_matrix, positives, self.device), users))
        negative_inputs = normalize_rows(sparse_rows(item_matrix, negatives, self.device))
        item_features = torch.cat([
            self.module.features(self.module.item_features, positive_inputs).unsqueeze(1),
            self.module.features(self.module.item_features, negative_inputs)[positions],
        ], dim=1)
        user_features = self.module.features(self.module.user_features, user_inputs)
        logits = self.module(user_features, item_features).float()
        probabilities = torch.sigmoid(logits)
        pairwise = top1_pairwise_loss(probabilities[:, 0], probabilities[:, 1:])
        pointwise = pointwise_log_loss(logits[:, 0], logits[:, 1:])
        return self.config.alpha * pairwise + (1 - self.config.alpha) * pointwise

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        user_matrix, item_matrix = self._rating_matrices(context.history)
        every_item = normalize_rows(sparse_rows(item_matrix, np.arange(self.n_items), self.device))
        items = self.module.features(self.module.item_features, every_item)
        scores = []
        for chunk in users.split(SCORING_CHUNK):
            inputs = normalize_rows(sparse_rows(user_matrix, chunk, self.device))
            features = self.module.features(self.module.user_features, inputs)
            scores.append(self.module(features, items.unsqueeze(0)))
        return torch.cat(scores)
