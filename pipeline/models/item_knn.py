"""Item-based k-nearest neighbours with cosine similarity (Sarwar et al. 2001; RecBole's ItemKNN).

Each item keeps its `k` most similar items; a user's score for item j is the summed similarity of j
to the items in the user's history. Similarities are computed in row blocks so memory stays
O(block x n_items) during fitting and O(n_items x k) afterwards.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig, Recommender, ScoringContext
from pipeline.models.history import history_rows


class ItemKNNConfig(ModelConfig):
    k: int = Field(100, ge=1, description="neighbours kept per item")
    shrink: float = Field(0.0, ge=0, description="added to the cosine denominator; damps rare co-occurrences")
    block_size: int = Field(2048, ge=1)


class ItemKNN(Recommender):
    name = "itemknn"
    Config = ItemKNNConfig
    config: ItemKNNConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._similarity: torch.Tensor | None = None

    def build_module(self) -> torch.nn.Module:
        k = min(self.config.k, max(self.n_items - 1, 1))
        module = torch.nn.Module()
        module.register_buffer("neighbours", torch.zeros(self.n_items, k, dtype=torch.long))
        module.register_buffer("similarities", torch.zeros(self.n_items, k))
        return module

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        item_user = train.csr.T.tocsr()
        norms = np.sqrt(np.asarray(item_user.multiply(item_user).sum(axis=1)).ravel())
        k = self.module.neighbours.shape[1]
        for start in range(0, self.n_items, self.config.block_size):
            stop = min(start + self.config.block_size, self.n_items)
            dots = torch.from_numpy((item_user[start:stop] @ item_user.T).toarray())
            denominator = torch.from_numpy(np.outer(norms[start:stop], norms) + self.config.shrink + 1e-12)
            similarity = (dots / denominator).float()
            similarity[torch.arange(stop - start), torch.arange(start, stop)] = 0.0  # an item is not its own neighbour
            values, indices = torch.topk(similarity, k, dim=1)
            self.module.neighbours[start:stop] = indices.to(self.device)
            self.module.similarities[start:stop] = values.to(self.device)
        self._similarity = None
        return self

    def similarity_matrix(self) -> torch.Tensor:
        """Sparse W with W[i, j] = sim(j, i) for the kept neighbours i of each item j."""
        if self._similarity is None:
            targets = torch.arange(self.n_items, device=self.device).repeat_interleave(self.module.neighbours.shape[1])
            sources = self.module.neighbours.reshape(-1)
            self._similarity = torch.sparse_coo_tensor(
                torch.stack([sources, targets]), self.module.similarities.reshape(-1), (self.n_items, self.n_items),
                check_invariants=True,  # the neighbour indices are loaded input
            ).coalesce()
        return self._similarity

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        history = history_rows(users, context)
        # (W^T H^T)^T = H W, computed with the sparse operand first as torch.sparse.mm requires
        return torch.sparse.mm(self.similarity_matrix().t(), history.t()).t()
