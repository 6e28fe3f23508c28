"""Uniform negative sampling that never returns an item the user interacted with in training."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.data.interactions import Interactions


class NegativeSampler:
    def __init__(self, train: Interactions, generator: torch.Generator):
        self.n_items = train.n_items
        self.generator = generator
        matrix = train.csr
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        self._known = np.sort(rows.astype(np.int64) * self.n_items + matrix.indices)
        self._max_fill = self.n_items - np.diff(matrix.indptr).min(initial=0)
        if self._max_fill <= 0:
            raise ValueError("a user has interacted with every item: no negatives can be sampled")

    def sample(self, users: torch.Tensor, n: int = 1) -> torch.Tensor:
        """`n` negatives per user, shape [len(users), n]."""
        users_np = users.cpu().numpy().astype(np.int64)[:, None]
        items = torch.randint(self.n_items, (len(users_np), n), generator=self.generator).numpy()
        while True:
            keys = users_np * self.n_items + items
            position = np.clip(np.searchsorted(self._known, keys), 0, len(self._known) - 1)
            clash = self._known[position] == keys
            if not clash.any():
                return torch.from_numpy(items).to(users.device)
            redraw = torch.randint(self.n_items, (int(clash.sum()),), generator=self.generator).numpy()
            items[clash] = redraw
