"""Recurrent session/sequence recommenders on the shared sequence base.

- GRU4Rec (Hidasi et al. 2016; trained as its authors advise: cross-entropy over the full catalogue)
- LSTM: the same model with an LSTM cell
- user-level GRU (Donkers et al. 2017, linear user integration): the user's embedding is concatenated
  to every input, so it enters the update, reset and candidate gates; users without training
  interactions get the learned "unknown user" vector of `UserEmbedding`.

They differ only in the recurrent cell and in whether the user joins the input.
"""

from __future__ import annotations

import torch
from pydantic import Field

from pipeline.models.sequential import (
    SequenceEncoder,
    Sequences,
    SequentialConfig,
    SequentialRecommender,
    UserAwareConfig,
    UserEmbedding,
)


class RecurrentConfig(SequentialConfig):
    hidden_dim: int = Field(128, ge=1)
    num_layers: int = Field(1, ge=1)


class UserRecurrentConfig(RecurrentConfig, UserAwareConfig):
    """The recurrent settings plus those of the user vector."""


class RecurrentEncoder(SequenceEncoder):
    """Runs the cell over each history's real items only (packed), so a state never depends on how much
    padding precedes the history, and padding costs no computation."""

    def __init__(self, cell: type[torch.nn.RNNBase], padding: int, dim: int, hidden_dim: int, num_layers: int,
                 dropout: float, users: UserEmbedding | None = None):
        super().__init__()
        self.padding = padding
        self.users = users
        extra = users.embedding.embedding_dim if users is not None else 0
        self.dropout = torch.nn.Dropout(dropout)
        self.rnn = cell(dim + extra, hidden_dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.projection = torch.nn.Linear(hidden_dim, dim)

    def forward(self, embedded: torch.Tensor, sequences: Sequences) -> torch.Tensor:
        inputs = self.dropout(embedded)
        if self.users is not None:
            user = self.users(sequences.users)[:, None, :].expand(-1, inputs.shape[1], -1)
            inputs = torch.cat([inputs, user], dim=-1)
        return self.projection(self.dropout(self.run_packed(inputs, sequences.items != self.padding)))

    def run_packed(self, inputs: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Left-padded rows are rotated to the front, packed, run, and rotated back; an empty history is
        read as one padding step."""
        length = inputs.shape[1]
        lengths = real.sum(1).clamp(min=1)
        columns = torch.arange(length, device=inputs.device)[None, :]
        offset = (length - lengths)[:, None]
        front = inputs.gather(1, ((columns + offset) % length)[..., None].expand_as(inputs))
        packed = torch.nn.utils.rnn.pack_padded_sequence(front, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = torch.nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=length)
        return states.gather(1, ((columns - offset) % length)[..., None].expand(-1, -1, states.shape[2]))


class GRU4Rec(SequentialRecommender):
    name = "gru4rec"
    Config = RecurrentConfig
    config: RecurrentConfig
    cell: type[torch.nn.RNNBase] = torch.nn.GRU

    def build_encoder(self) -> SequenceEncoder:
        c = self.config
        return RecurrentEncoder(self.cell, self.n_items, c.embedding_dim, c.hidden_dim, c.num_layers, c.dropout)


class LSTMRec(GRU4Rec):
    name = "lstm"
    cell = torch.nn.LSTM


class UserGRU(SequentialRecommender):
    name = "user_gru"
    Config = UserRecurrentConfig
    config: UserRecurrentConfig

    def build_encoder(self) -> SequenceEncoder:
        c = self.config
        users = UserEmbedding(self.n_users, c.embedding_dim, c.unknown_user_rate, c.user_weight_decay)
        return RecurrentEncoder(torch.nn.GRU, self.n_items, c.embedding_dim, c.hidden_dim, c.num_layers, c.dropout, users)
