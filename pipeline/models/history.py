"""Turning a scoring context's history into model inputs, shared by history-based models."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.models.base import ScoringContext


def history_rows(users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
    """Dense binary history rows [len(users), n_items] on the users' device."""
    rows = context.history.csr[users.cpu().numpy()]
    return torch.from_numpy(rows.toarray()).to(users.device)


def history_sequences(
    users: torch.Tensor, context: ScoringContext, max_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each user's most recent `max_length` items in time order, left-padded.

    Returns (items [b, L] with padding value n_items, timestamps [b, L] with 0 padding, lengths [b]).
    Item index n_items is reserved for padding so embeddings can use it as `padding_idx`.
    """
    history = context.history
    order, offsets = history.time_order, history.user_offsets
    user_list = users.cpu().numpy()
    items = np.full((len(user_list), max_length), history.n_items, dtype=np.int64)
    stamps = np.zeros((len(user_list), max_length), dtype=np.int64)
    lengths = np.zeros(len(user_list), dtype=np.int64)
    for row, user in enumerate(user_list):
        positions = order[max(offsets[user], offsets[user + 1] - max_length) : offsets[user + 1]]
        n = len(positions)
        if n:
            items[row, max_length - n :] = history.items[positions]
            stamps[row, max_length - n :] = history.timestamps[positions]
        lengths[row] = n
    device = users.device
    return torch.from_numpy(items).to(device), torch.from_numpy(stamps).to(device), torch.from_numpy(lengths).to(device)
