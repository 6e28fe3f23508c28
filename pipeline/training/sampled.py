"""The training epoch shared by models fitted on observed pairs against sampled negatives (GMF, MLP,
NeuMF, J-NCF): every training interaction once per epoch, in a seeded order, with `num_negatives`
items the user never interacted with. Subclasses say only how a batch of candidates is scored."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator

import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.training.negatives import NegativeSampler
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


class SampledNegativesConfig(IterativeConfig):
    num_negatives: int = Field(4, ge=1, description="sampled negatives per observed interaction")
    batch_size: int = Field(1024, ge=1, description="observed interactions per step")


class SampledNegativesRecommender(IterativeRecommender):
    config: SampledNegativesConfig

    @abstractmethod
    def candidate_loss(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Loss of `candidates` [b, 1 + num_negatives]: column 0 holds the observed item of each user."""

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        sampler = self._sampler_for(train)
        users_all, items_all = torch.from_numpy(train.users), torch.from_numpy(train.items)
        for rows in self.epoch_batches(len(train)):
            users, positives = users_all[rows].to(self.device), items_all[rows].to(self.device)
            candidates = torch.cat([positives[:, None], sampler.sample(users, self.config.num_negatives)], dim=1)
            loss = self.candidate_loss(users, candidates)
            yield loss

    def _sampler_for(self, train: Interactions) -> NegativeSampler:
        """Built once per training set (it indexes every known pair) and drawing from `self.generator`."""
        if getattr(self, "_sampler_source", None) is not train:
            self._sampler, self._sampler_source = NegativeSampler(train, self.generator), train
        return self._sampler
