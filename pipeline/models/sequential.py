"""The shared base of the sequence recommenders (GRU4Rec, LSTM, Time-LSTM, user-GRU, Caser, SASRec and
the text-CNN hybrid): they differ only in the encoder that turns a time-ordered history into a state.

Training follows the authors of GRU4Rec (Hidasi & Czapp 2023) rather than third-party ports: every
position of a user's training sequence is a (prefix -> next item) example, scored with cross-entropy
over the whole catalogue (cheap at these catalogue sizes, and far stronger than BPR with one negative).
A user's sequence is cut into windows of `max_length + 1` items from its most recent end, so each
target is predicted once, from at most `max_length` preceding items; an encoder returns one state per
position (causally: the state at t reads only items <= t), so a window yields all its examples in one
pass. Scoring reads the same left-padded layout from `history_sequences`, so a user's state at test
time is computed exactly as during training.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext
from pipeline.models.history import history_sequences
from pipeline.training.fold_in import drop_user_ids
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


class SequentialConfig(IterativeConfig):
    """Defaults chosen on MovieTweetings validation NDCG@10; `epochs` caps training near two CPU minutes."""

    embedding_dim: int = Field(64, ge=1)
    max_length: int = Field(50, ge=1, description="most recent items one prediction may read")
    dropout: float = Field(0.4, ge=0, lt=1)
    learning_rate: float = Field(0.005, gt=0)
    batch_size: int = Field(128, ge=1, description="training windows (chunks of one user's sequence) per step")
    epochs: int = Field(30, ge=1, description="upper bound; early stopping usually ends sooner")
    patience: int = Field(5, ge=1, description="epochs without validation improvement before stopping")


class UserAwareConfig(SequentialConfig):
    """For models whose state also reads a per-user vector (see `UserEmbedding`)."""

    unknown_user_rate: float = Field(0.5, ge=0, le=1, description="training rate of the unknown-user vector")
    user_weight_decay: float = Field(0.01, ge=0, description="L2 (Adam weight decay) on the user vectors only")


@dataclass(frozen=True)
class Sequences:
    """Left-padded histories, the one input layout of every encoder: item index `n_items` pads."""

    users: torch.Tensor  # [b]
    items: torch.Tensor  # [b, L]
    timestamps: torch.Tensor  # [b, L] seconds, 0 at padding

    def __len__(self) -> int:
        return len(self.users)

    def select(self, rows: torch.Tensor) -> Sequences:
        return Sequences(self.users[rows], self.items[rows], self.timestamps[rows])

    def to(self, device: torch.device) -> Sequences:
        return Sequences(self.users.to(device), self.items.to(device), self.timestamps.to(device))


class SequenceEncoder(torch.nn.Module):
    """Maps embedded histories [b, L, d] (plus users and timestamps) to one state per position [b, L, d]."""

    @abstractmethod
    def forward(self, embedded: torch.Tensor, sequences: Sequences) -> torch.Tensor: ...


class UserEmbedding(torch.nn.Module):
    """Per-user vectors for models whose state depends on who the user is (user-GRU, Caser).

    Users without training interactions (cold users, scored from the sequence they revealed) get a
    learned "unknown user" vector instead of an untrained random row. That vector is trained by
    replacing a known user with it at rate `unknown_rate` during training, like dropout (and, like
    dropout, drawing from torch's global generator, which checkpoints save for exact resume).
    A user's vector sees only that user's few examples and memorises them within an epoch or two (the
    targets it learns are masked at evaluation), so it carries its own, strong `weight_decay`.
    """

    def __init__(self, n_users: int, dim: int, unknown_rate: float, weight_decay: float):
        super().__init__()
        self.unknown = n_users
        self.unknown_rate = unknown_rate
        self.weight_decay = weight_decay
        self.embedding = torch.nn.Embedding(n_users + 1, dim)
        torch.nn.init.xavier_normal_(self.embedding.weight)
        self.register_buffer("known", torch.zeros(n_users, dtype=torch.bool))

    def remember(self, train: Interactions) -> None:
        self.known.zero_()
        self.known[torch.from_numpy(np.unique(train.users)).to(self.known.device)] = True

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        rows = torch.where(self.known[users], users, self.unknown)
        if self.training:
            rows = drop_user_ids(rows, self.unknown_rate, self.unknown, generator=None)
        return self.embedding(rows)


def training_windows(train: Interactions, max_length: int) -> Sequences:
    """Each user's time-ordered training sequence cut into windows of up to `max_length + 1` items,
    from the most recent end back, overlapping by one item so every position after the first is a
    target exactly once. Users with a single interaction give no example."""
    order, offsets, pad = train.time_order, train.user_offsets, train.n_items
    width = max_length + 1
    users, items, stamps = [], [], []
    for user in range(train.n_users):
        positions = order[offsets[user] : offsets[user + 1]]
        for end in range(len(positions), 1, -max_length):
            chunk = positions[max(0, end - width) : end]
            row_items = np.full(width, pad, dtype=np.int64)
            row_stamps = np.zeros(width, dtype=np.int64)
            row_items[width - len(chunk) :] = train.items[chunk]
            row_stamps[width - len(chunk) :] = train.timestamps[chunk]
            users.append(user)
            items.append(row_items)
            stamps.append(row_stamps)
    if not users:
        raise ValueError("no user has two training interactions: a sequence model has nothing to learn from")
    return Sequences(torch.tensor(users), torch.from_numpy(np.stack(items)), torch.from_numpy(np.stack(stamps)))


class SequentialRecommender(IterativeRecommender):
    """Item embeddings (tied between input and output, plus a per-item output bias) around an encoder.

    Subclasses provide `build_encoder`; models whose item vectors come from content override
    `item_representations`.
    """

    Config = SequentialConfig
    config: SequentialConfig

    @abstractmethod
    def build_encoder(self) -> SequenceEncoder:
        """The part that differs between the models of this family."""

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        module = torch.nn.Module()
        module.item_embedding = torch.nn.Embedding(self.n_items + 1, self.config.embedding_dim, padding_idx=self.n_items)
        torch.nn.init.xavier_normal_(module.item_embedding.weight[: self.n_items])
        module.item_bias = torch.nn.Parameter(torch.zeros(self.n_items))
        module.encoder = self.build_encoder()
        return module

    @property
    def scoring_length(self) -> int:
        """History length read at scoring; encoders with a shorter receptive field (Caser) lower it."""
        return self.config.max_length

    def item_representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(vectors [n_items + 1, d] whose last row is the zero padding vector, output bias [n_items])."""
        return self.module.item_embedding.weight, self.module.item_bias

    def encode(self, sequences: Sequences, vectors: torch.Tensor) -> torch.Tensor:
        return self.module.encoder(vectors[sequences.items], sequences)

    def make_optimizer(self) -> torch.optim.Optimizer:
        users = [part for part in self.module.modules() if isinstance(part, UserEmbedding)]
        user_parameters = {id(p) for part in users for p in part.parameters()}
        groups = [{"params": [p for p in self.module.parameters() if id(p) not in user_parameters]}]
        groups += [{"params": list(part.parameters()), "weight_decay": part.weight_decay} for part in users]
        return torch.optim.Adam(groups, lr=self.config.learning_rate, weight_decay=self.config.weight_decay)

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        self._windows = training_windows(train, self.config.max_length)
        # items never seen in training are unlabelled, not negatives: keep them out of the softmax
        self._unseen = torch.from_numpy(train.item_counts == 0).to(self.device)
        for part in self.module.modules():
            if isinstance(part, UserEmbedding):
                part.remember(train)
        return super().fit(train, valid)

    def trimmed(self, sequences: Sequences) -> Sequences:
        """Without the leading columns that are padding in every row: encoders ignore leading padding, so
        this only saves work when all histories of a batch are short. (Batching windows by length would
        save more, but made validation NDCG clearly worse on MovieTweetings: batches were less mixed.)"""
        first = int((sequences.items != self.n_items).any(0).float().argmax())
        return Sequences(sequences.users, sequences.items[:, first:], sequences.timestamps[:, first:])

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        pad = self.n_items
        for rows in self.epoch_batches(len(self._windows)):
            batch = self.trimmed(self._windows.select(rows)).to(self.device)
            inputs = Sequences(batch.users, batch.items[:, :-1], batch.timestamps[:, :-1])
            targets = batch.items[:, 1:]
            labelled = targets != pad
            vectors, bias = self.item_representations()
            states = self.encode(inputs, vectors)[labelled]
            logits = states @ vectors[:pad].T + bias.masked_fill(self._unseen, float("-inf"))
            loss = torch.nn.functional.cross_entropy(logits.float(), targets[labelled])
            yield loss

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        items, stamps, _ = history_sequences(users, context, self.scoring_length)
        vectors, bias = self.item_representations()
        state = self.encode(self.trimmed(Sequences(users, items, stamps)), vectors)[:, -1]
        return state @ vectors[: self.n_items].T + bias
