"""A new-item GAN in the spirit of GAR (Chen et al. SIGIR 2022, "Generative adversarial framework for
cold-start item recommendation").

A warm collaborative model (the project's BPR, trained inside `fit`) supplies the "real" item
embeddings. A generator maps an item's content (hashed title words and categories,
pipeline/models/hashed_features.py) into that embedding space. The discriminator is a ranking model,
score(u, v) = f_U(e_u) . f_I(v) with linear towers that start as the identity (so it starts as the
BPR model): it is trained to rank a user's real warm items above the generated embeddings of the same
items, and the generator to make its embeddings rank as high as the real ones (GAR's adversarial
ranking objective). The discriminator also keeps a BPR term over real items against sampled warm
negatives, so it stays a recommender; the generator a BPR term in the collaborative space against the
generated embeddings of those negatives, so its embeddings order items for the user, not just look
real. The collaborative embeddings stay frozen during the adversarial phase. With `item_bias`, the
generator also outputs a bias per item (against a constant user feature, so still a dot-product
recommender as in GAR), learned by that BPR term: BPR's space has no bias, and a new item's expected
popularity is what the two-tower model gets most of its cold-item ranking from. Warm items keep BPR's
bias-free score.

Items are scored in the collaborative space: BPR's user vector against the item's BPR embedding for
warm items and the generated one for items without training interactions. Scoring through the
discriminator's towers, as GAR does, lost on MovieTweetings: the easiest way for the critic to tell real
from generated is a "realness" direction shared by all real items, which swamped the warm ranking
(warm validation NDCG@10 0.0763 -> 0.0188 at `adversarial_weight` 0.1) and the new items' (cold-item
validation 0.1695 without the adversarial term, 0.1159 / 0.0344 / 0.0496 at 0.1 / 0.3 / 1). New users
are folded in as BPR does.
`objective: paper` trains the GAR authors' own losses instead (zfnWong/GAR): batch-normed tanh MLP critic
towers, one critic logit D(u, e_pos) - (1 - beta) D(u, G(x_pos)) - beta D(u, e_neg), the generator's
(1 - alpha) times -log sigmoid(D(u, G(x)) - D(u, e)) plus alpha times the L1 distance to the real embedding,
and every item scored through the critic's towers; it lost to the default on every setting tried
(docs/models.md).
The adversarial phase runs a fixed number of epochs (chosen on the cold-item validation half): the
trainer's warm validation metric says nothing about how well new items are generated.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from pipeline.data.features import SideInformation
from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext
from pipeline.models.bpr import BPR, BPRConfig
from pipeline.models.hashed_features import item_feature_matrix
from pipeline.models.sparse_input import sparse_linear, sparse_rows
from pipeline.models.towers import mlp_tower
from pipeline.training.adversarial import CollapseConfig, CollapseMonitor
from pipeline.training.objectives import bpr_loss
from pipeline.training.trainer import IterativeConfig, IterativeRecommender

COLLABORATIVE_DEFAULTS = BPRConfig(embedding_dim=64, learning_rate=0.01, batch_size=2048, epochs=100, patience=5)


class GARConfig(IterativeConfig, CollapseConfig):
    collaborative: BPRConfig = Field(COLLABORATIVE_DEFAULTS, description="the warm BPR model whose item embeddings "
                                     "are the real ones (params.yaml's bpr settings); its seed follows this model's")
    hidden_sizes: tuple[int, ...] = Field((256,), description="generator widths between content and embedding")
    feature_buckets: int = Field(2**12, ge=1, description="hashed space of item words and categories")
    dropout: float = Field(0.2, ge=0, lt=1, description="between generator layers")
    adversarial_weight: float = Field(0.1, ge=0, description="weight of the adversarial ranking terms against the "
                                      "BPR terms; 0 trains the generator as a plain content-to-embedding ranker")
    epochs: int = Field(15, ge=1, description="adversarial epochs, all of them run (no early stopping)")
    batch_size: int = Field(1024, ge=1, description="training interactions per step")
    item_bias: bool = Field(True, description="the generator also predicts an item bias from the content, scored "
                            "against a constant user feature: a new item's expected popularity, which BPR's "
                            "bias-free space cannot carry (the `ranking` objective only)")
    objective: Literal["ranking", "paper"] = Field(
        "ranking", description="`ranking`: separate BPR terms, scoring in BPR's space (module docstring); `paper`: "
        "the GAR authors' losses, critic MLP towers and scoring through them")
    critic_sizes: tuple[int, ...] = Field((200, 200), description="`paper`: widths of the critic's user and item "
                                          "tanh towers (the authors' 200, 200)")
    critic_dropout: float = Field(0.5, ge=0, lt=1, description="`paper`: between the critic's layers (the authors' 0.5)")
    negative_share: float = Field(0.1, ge=0, le=1, description="`paper`: share of the critic's logit given to the sampled "
                                  "warm negative, the rest to the generated item (the authors' beta, 0.1)")
    similarity_weight: float = Field(0.05, ge=0, le=1, description="`paper`: weight of the L1 distance to the real "
                                     "embedding in the generator's loss, the rest adversarial (the authors' alpha, 0.05)")

    @model_validator(mode="after")
    def bias_only_in_the_ranking_objective(self) -> GARConfig:
        if self.objective == "paper" and self.item_bias:
            raise ValueError("objective 'paper' scores through the critic's towers, which carry no item bias: "
                             "set item_bias: false")
        return self


def critic_tower(dim: int, config: GARConfig) -> torch.nn.Module:
    """One side of the ranking critic: the identity-started linear map of the `ranking` objective (the critic
    starts as the BPR model), or the GAR authors' tanh MLP for `paper`."""
    if config.objective == "paper":  # batch norm on the input and before every tanh, as the authors' build_mlp
        return torch.nn.Sequential(torch.nn.BatchNorm1d(dim, affine=False),
                                   *mlp_tower([dim, *config.critic_sizes], config.critic_dropout, activate_last=False,
                                              activation=torch.nn.Tanh, batch_norm=True))
    tower = torch.nn.Linear(dim, dim)
    torch.nn.init.eye_(tower.weight)
    torch.nn.init.zeros_(tower.bias)
    return tower


class GARNetwork(torch.nn.Module):
    def __init__(self, collaborative: torch.nn.Module, config: GARConfig):
        super().__init__()
        dim = config.collaborative.embedding_dim
        self.collaborative = collaborative
        self.dim = dim
        self.content = mlp_tower([config.feature_buckets, *config.hidden_sizes, dim + int(config.item_bias)],
                                 config.dropout, activate_last=False)
        self.user_tower, self.item_tower = (critic_tower(dim, config) for _ in range(2))
        self.register_buffer("known_items", torch.zeros(collaborative.item_embedding.num_embeddings, dtype=torch.bool))

    def generate(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Item embeddings [n, dim] and biases [n] (zeros without `item_bias`) from sparse content rows
        [n, buckets]."""
        output = self.content[1:](sparse_linear(features, self.content[0]))
        if output.shape[1] == self.dim:
            return output, output.new_zeros(len(output))
        return output[:, :self.dim], output[:, self.dim]

    def users(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_tower(self.collaborative.user_embedding(users).detach())

    def real_items(self, items: torch.Tensor) -> torch.Tensor:
        return self.collaborative.item_embedding(items).detach()

    def rank_score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The discriminator: [n] scores of item embeddings [n, dim] for user vectors [n, dim]."""
        return (users * self.item_tower(items)).sum(dim=-1)

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.content.parameters())

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.user_tower.parameters(), *self.item_tower.parameters()]


class GAR(IterativeRecommender):
    name = "gar"
    Config = GARConfig
    config: GARConfig
    unsupported_regimes: ClassVar[dict[str, str]] = {}  # new items are generated from their content

    def __init__(self, *args: Any, **kwargs: Any):
        self._features: tuple[SideInformation | None, sp.csr_matrix] | None = None
        self._monitor: CollapseMonitor | None = None
        self._epoch_losses: dict[str, list[float]] = {}
        super().__init__(*args, **kwargs)

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        settings = self.config.collaborative.model_copy(update={"seed": self.config.seed})
        self.collaborative = BPR(settings, self.n_users, self.n_items, self.device)
        return GARNetwork(self.collaborative.module, self.config)

    def item_features(self, side: SideInformation | None) -> sp.csr_matrix:
        """Hashed content of every item, rebuilt only when the side information changes."""
        if self._features is None or self._features[0] is not side:
            self._features = (side, item_feature_matrix(side, self.n_items, self.config.feature_buckets))
        return self._features[1]

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        if train.side is None or train.side.items is None:
            raise ValueError("GAR generates new items from their content: it needs item text or categories "
                             "(data/processed/items.parquet)")
        if self.checkpoint_dir is not None:
            self.collaborative.checkpoint_dir = self.checkpoint_dir / "collaborative"
        self.collaborative.fit(train, valid)
        self.module.known_items.copy_(torch.from_numpy(train.item_counts > 0))
        self._monitor = CollapseMonitor.for_training(train, self.config, self.name)
        return super().fit(train, None)

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        """Per batch of interactions, the discriminator's loss and then the generator's; each is computed
        after the previous one was stepped on."""
        features = self.item_features(train.side)
        warm_items = torch.from_numpy(np.flatnonzero(train.item_counts > 0))
        users_all, items_all = torch.from_numpy(train.users), torch.from_numpy(train.items)
        losses = self.paper_losses if self.config.objective == "paper" else self.ranking_losses
        for batch in self.epoch_batches(len(train)):
            negatives = warm_items[torch.randint(len(warm_items), (len(batch),), generator=self.generator)]
            yield from losses(features, *(part.to(self.device) for part in (users_all[batch], items_all[batch], negatives)))

    def ranking_losses(self, features: sp.csr_matrix, users: torch.Tensor, items: torch.Tensor,
                       negatives: torch.Tensor) -> Iterator[torch.Tensor]:
        """The `ranking` objective (module docstring)."""
        network: GARNetwork = self.module  # type: ignore[assignment]
        weight = self.config.adversarial_weight
        user_vectors = network.users(users)
        real, real_negative = network.real_items(items), network.real_items(negatives)
        with torch.no_grad():
            generated, _ = network.generate(sparse_rows(features, items, self.device))
        positive_score = network.rank_score(user_vectors, real)
        discriminator_loss = (bpr_loss(positive_score, network.rank_score(user_vectors, real_negative)[:, None])
                              + weight * bpr_loss(positive_score, network.rank_score(user_vectors, generated)[:, None]))
        self._epoch_losses["discriminator_loss"].append(discriminator_loss.item())
        yield discriminator_loss
        critic_users = network.users(users).detach()
        raw_users = network.collaborative.user_embedding(users).detach()
        generated, bias = network.generate(sparse_rows(features, items, self.device))
        generated_negative, negative_bias = network.generate(sparse_rows(features, negatives, self.device))
        # ranking in the collaborative space, where items are scored; fooling the critic in its own
        ranking = bpr_loss((raw_users * generated).sum(-1) + bias,
                           ((raw_users * generated_negative).sum(-1) + negative_bias)[:, None])
        real_score = network.rank_score(critic_users, network.real_items(items)).detach()
        adversarial = bpr_loss(network.rank_score(critic_users, generated), real_score[:, None])
        self._epoch_losses["generator_loss"].append(adversarial.item())
        self._epoch_losses["ranking_loss"].append(ranking.item())
        yield ranking + weight * adversarial

    def paper_losses(self, features: sp.csr_matrix, users: torch.Tensor, items: torch.Tensor,
                     negatives: torch.Tensor) -> Iterator[torch.Tensor]:
        """The GAR authors' losses (zfnWong/GAR): the critic's one logit ranks the real item above a mix of
        its generated copy and a sampled warm negative; the generator makes its copy rank as high as the
        real item, plus an L1 pull towards the real embedding."""
        if len(users) < 2:  # a last batch of one: batch norm has no statistics to train on
            return
        network: GARNetwork = self.module  # type: ignore[assignment]
        share, similarity_weight = self.config.negative_share, self.config.similarity_weight
        user_vectors, real = network.users(users), network.real_items(items)
        with torch.no_grad():
            generated, _ = network.generate(sparse_rows(features, items, self.device))
        # real, negative and generated items through the item tower in one batch, so its batch norm cannot
        # standardise the generated ones apart from the real ones (the authors' concatenation)
        real_score, negative_score, generated_score = network.rank_score(
            user_vectors.repeat(3, 1), torch.cat([real, network.real_items(negatives), generated])).chunk(3)
        logit = real_score - (1 - share) * generated_score - share * negative_score
        discriminator_loss = F.softplus(-logit).mean()
        self._epoch_losses["discriminator_loss"].append(discriminator_loss.item())
        yield discriminator_loss
        generated, _ = network.generate(sparse_rows(features, items, self.device))
        critic = [network.user_tower, network.item_tower]
        for tower in critic:  # the generator plays against the critic as it scores: running statistics, no dropout
            tower.eval()
        critic_users = network.users(users).detach()
        real_score = network.rank_score(critic_users, real).detach()
        adversarial = F.softplus(real_score - network.rank_score(critic_users, generated)).mean()
        for tower in critic:
            tower.train()
        similarity = (generated - real).abs().mean()
        self._epoch_losses["generator_loss"].append(adversarial.item())
        self._epoch_losses["similarity_loss"].append(similarity.item())
        yield (1 - similarity_weight) * adversarial + similarity_weight * similarity

    def train_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer) -> float:
        """Alternating updates with one optimiser: each loss steps only its own network's parameters."""
        network: GARNetwork = self.module  # type: ignore[assignment]
        turns = itertools.cycle([network.discriminator_parameters(), network.generator_parameters()])
        own_loss = "similarity_loss" if self.config.objective == "paper" else "ranking_loss"
        self._epoch_losses = {"discriminator_loss": [], "generator_loss": [], own_loss: []}
        for loss, parameters in zip(self.batch_losses(train), turns, strict=False):  # turns cycles forever
            self.step(optimizer, loss, parameters)
        return float(np.mean(self._epoch_losses[own_loss]))

    def epoch_diagnostics(self) -> dict[str, float]:
        """The losses, and the collapse watch on the probe users' scores of the items as generated: a
        generator that maps every item to one embedding gives everyone the same (tied) list."""
        figures = {key: float(np.mean(values)) for key, values in self._epoch_losses.items() if values}
        if self._monitor is not None and self._monitor.users is not None:
            with torch.no_grad():
                self.module.eval()
                users = torch.from_numpy(self._monitor.users).to(self.device)
                figures.update(self._monitor(self.item_scores(users, *self._generated_catalogue())))
                self.module.train()
        return figures

    def _generated_catalogue(self) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.item_features(self._features[0] if self._features else None)
        return self.module.generate(sparse_rows(features, np.arange(self.n_items), self.device))

    def item_scores(self, users: torch.Tensor, item_vectors: torch.Tensor, item_biases: torch.Tensor) -> torch.Tensor:
        """Scores of real or generated item vectors: in the collaborative space, BPR's user vectors against
        them plus the item biases; with the `paper` objective, through the critic's towers."""
        network: GARNetwork = self.module  # type: ignore[assignment]
        if self.config.objective == "paper":
            return network.users(users) @ network.item_tower(item_vectors).T
        return network.collaborative.user_embedding(users) @ item_vectors.T + item_biases

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        features = self.item_features(context.history.side)
        generated, biases = self.module.generate(sparse_rows(features, np.arange(self.n_items), self.device))
        known = self.module.known_items
        real = self.module.collaborative.item_embedding.weight
        vectors = torch.where(known.unsqueeze(1), real, generated)
        return self.item_scores(users, vectors, biases.masked_fill(known, 0.0))

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        self.collaborative.fold_in(users, history)

