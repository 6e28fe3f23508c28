"""Most-popular items: the non-personalised baseline every model must beat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

import torch

from pipeline.data.interactions import Interactions
from pipeline.models.base import Recommender, ScoringContext, item_ranges


class Popularity(Recommender):
    name = "popularity"

    def build_module(self) -> torch.nn.Module:
        module = torch.nn.Module()
        module.register_buffer("item_counts", torch.zeros(self.n_items))
        return module

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        self.module.item_counts.copy_(torch.from_numpy(train.item_counts))
        return self

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return self.module.item_counts.expand(len(users), -1)

    def iter_item_scores(
        self, users: torch.Tensor, context: ScoringContext, chunk_size: int
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        for items in item_ranges(self.n_items, chunk_size):
            yield items, self.module.item_counts[items].expand(len(users), -1)
