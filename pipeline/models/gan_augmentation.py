"""GAN data augmentation for sparse users: a base model trained on its training set plus interactions a
new-user GAN generated for the users who have few.

`fit` trains the cold-start generator (pipeline/models/cold_gan.py) on the training set, takes for
every user with at least one but fewer than `sparse_below` training interactions the
`generated_per_user` items the generator ranks highest among the warm items they have not interacted
with, adds them as interactions (stamped at the user's last training interaction), and trains the
base model on the augmented set. Users without training interactions (new users) and items without
any (new items) are never touched, so the cold regimes stay cold. Scoring, fold-in and the regimes a
model serves are the base model's: configured as an alias, e.g.
`multdae_gan_aug: {model: gan_augmented, base: multdae, base_params: {dropout: 0.8}}`, it is scored by
every regime beside the plain base model, the sparse ones being where it is meant to pay.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig, Recommender, ScoringContext
from pipeline.models.cold_gan import ColdGAN, ColdGANConfig

log = logging.getLogger(__name__)


class GANAugmentedConfig(ModelConfig):
    base: str = Field("multdae", description="the model trained on the augmented interactions (a registry name)")
    base_params: dict[str, Any] = Field(default_factory=dict, description="its settings, as under models.<base>")
    generator: ColdGANConfig = Field(ColdGANConfig(), description="the new-user GAN that generates the interactions; "
                                     "its seed follows this model's")
    sparse_below: int = Field(5, ge=2, description="users with fewer training interactions than this are augmented")
    generated_per_user: int = Field(3, ge=1, description="generated interactions added to each of them")
    seed: int = 2020


def augment_sparse_users(train: Interactions, scores: torch.Tensor, users: np.ndarray, per_user: int) -> Interactions:
    """`train` plus, for each of `users`, the `per_user` highest-scored items (`scores` [len(users),
    n_items]) among the items with training interactions that the user has not interacted with."""
    scores = scores.detach().float().cpu().clone()
    scores[:, torch.from_numpy(train.item_counts == 0)] = -torch.inf
    seen = train.csr[users].tocoo()
    scores[seen.row, seen.col] = -torch.inf
    items = scores.topk(per_user, dim=1).indices.numpy()
    last_seen = np.full(train.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_seen, train.users, train.timestamps)
    added = Interactions(
        users=np.repeat(users, per_user), items=items.ravel().astype(train.items.dtype),
        timestamps=np.repeat(last_seen[users], per_user), ratings=np.full(items.size, np.nan, dtype=np.float32),
        n_users=train.n_users, n_items=train.n_items, side=train.side,
    )
    return train.concat(added)


class GANAugmented(Recommender):
    name = "gan_augmented"
    Config = GANAugmentedConfig
    config: GANAugmentedConfig

    def build_module(self) -> torch.nn.Module:
        from pipeline.models.registry import create_model  # the registry imports this module

        self.base = create_model(self.config.base, self.config.base_params, self.n_users, self.n_items, self.device,
                                 self.config.seed)
        self.unsupported_regimes = self.base.unsupported_regimes
        module = torch.nn.Module()
        module.base = self.base.module
        return module

    @property
    def training_log(self) -> list[dict[str, float]]:
        return getattr(self.base, "training_log", [])

    def sparse_users(self, train: Interactions) -> np.ndarray:
        counts = np.diff(train.csr.indptr)
        return np.flatnonzero((counts > 0) & (counts < self.config.sparse_below))

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        users = self.sparse_users(train)
        if len(users):
            settings = self.config.generator.model_copy(update={"seed": self.config.seed})
            generator = ColdGAN(settings, self.n_users, self.n_items, self.device).fit(train, valid)
            with torch.no_grad():
                user_tensor = torch.from_numpy(users).to(self.device)
                scores = generator.score(user_tensor, ScoringContext(history=train))
            augmented = augment_sparse_users(train, scores, users, self.config.generated_per_user)
            log.info("GAN augmentation: %d of %d training users have fewer than %d interactions; %d generated "
                     "interactions added", len(users), int((np.diff(train.csr.indptr) > 0).sum()),
                     self.config.sparse_below, len(augmented) - len(train))
            train = augmented
        self.base.fit(train, valid)
        return self

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return self.base.score(users, context)

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        self.base.fold_in(users, history)
