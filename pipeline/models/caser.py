"""Caser (Tang & Wang 2018): convolutions over the embedding "image" of the L most recent items.

Horizontal filters of heights 1..L slide over time and catch union-level and skip patterns (max-pooled
over time); vertical filters weight the L rows and catch point-level patterns. Their outputs pass a
fully connected layer and are joined with the user's embedding (general taste) to form the state.
Differences from the paper, all to share the family's base: the state is projected to the item
dimension and scored against the tied item embeddings plus an item bias (the paper's output matrix is
separate), one next item is the target per position (the paper also uses T=3 later ones), and cross-
entropy over the catalogue replaces sampled negatives. Users absent from training use the learned
unknown-user vector of `UserEmbedding`.
"""

from __future__ import annotations

import torch
from pydantic import Field

from pipeline.models.sequential import SequenceEncoder, Sequences, SequentialRecommender, UserAwareConfig, UserEmbedding


class CaserConfig(UserAwareConfig):
    markov_order: int = Field(5, ge=1, description="L: recent items under the convolutions")
    horizontal_filters: int = Field(16, ge=1, description="filters per height 1..L")
    vertical_filters: int = Field(4, ge=0)
    dropout: float = Field(0.5, ge=0, lt=1)


class CaserEncoder(SequenceEncoder):
    """Caser's image at every position at once. A horizontal filter of height h meets the same h-item
    stretch in every image that contains it, so it runs once along the whole sequence (a 1-d convolution
    over time) and each position max-pools the responses inside its own L rows; a vertical filter is a
    weighted sum of the L rows, i.e. a 1-d convolution over time shared by every embedding dimension.
    This is the paper's per-position computation, without redoing it L times."""

    def __init__(self, dim: int, order: int, horizontal: int, vertical: int, dropout: float, users: UserEmbedding):
        super().__init__()
        self.order = order
        self.users = users
        self.horizontal = torch.nn.ModuleList(torch.nn.Conv1d(dim, horizontal, height) for height in range(1, order + 1))
        self.vertical = torch.nn.Conv1d(1, vertical, order) if vertical else None
        self.dropout = torch.nn.Dropout(dropout)
        self.hidden = torch.nn.Linear(vertical * dim + horizontal * order, dim)
        self.output = torch.nn.Linear(2 * dim, dim)

    def forward(self, embedded: torch.Tensor, sequences: Sequences) -> torch.Tensor:
        batch, length, dim = embedded.shape
        # zero (padding) rows before the sequence starts, so the first positions have full images
        rows = torch.nn.functional.pad(embedded, (0, 0, self.order - 1, 0)).transpose(1, 2)  # [b, d, L - 1 + T]
        features = [
            torch.nn.functional.max_pool1d(torch.relu(conv(rows)), self.order - height + 1, stride=1)
            for height, conv in enumerate(self.horizontal, start=1)
        ]  # each [b, filters, T]
        if self.vertical is not None:
            weighted = self.vertical(rows.reshape(batch * dim, 1, -1))  # [b * d, filters, T]
            features.append(weighted.view(batch, dim, -1, length).transpose(1, 2).reshape(batch, -1, length))
        sequential = torch.relu(self.hidden(self.dropout(torch.cat(features, 1).transpose(1, 2))))
        user = self.users(sequences.users)[:, None, :].expand(-1, length, -1)
        return self.output(torch.cat([sequential, user], -1))


class Caser(SequentialRecommender):
    name = "caser"
    Config = CaserConfig
    config: CaserConfig

    @property
    def scoring_length(self) -> int:
        return self.config.markov_order

    def build_encoder(self) -> SequenceEncoder:
        c = self.config
        users = UserEmbedding(self.n_users, c.embedding_dim, c.unknown_user_rate, c.user_weight_decay)
        return CaserEncoder(c.embedding_dim, c.markov_order, c.horizontal_filters, c.vertical_filters, c.dropout, users)
