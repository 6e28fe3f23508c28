"""Neural collaborative filtering (He et al. 2017): GMF, MLP and their fusion NeuMF.

All three share one network with optional parts. GMF scores h^T (p_u * q_i); MLP feeds the
concatenation [p_u, q_i] through a ReLU tower; NeuMF concatenates both last layers before the output
layer, with *separate* embeddings for each part so each can learn the factor size it needs. Training
is pointwise log loss over observed pairs and `num_negatives` sampled negatives per pair (eq. 7).
NeuMF can start from trained GMF and MLP models (section 3.4.1): their embeddings and towers are
copied and the two output layers are concatenated with weights alpha and 1 - alpha.

Cold users (not in the paper): with `unknown_user_rate` > 0 every user table has one extra row, the
"unknown user", which stands in for a training user at that rate (user-ID dropout, as in DropoutNet).
Fold-in then shrinks a new user's audience mean toward it instead of toward the population mean: on
MovieTweetings the population-mean user ranks worse than raw popularity, the unknown user does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from pipeline.data.interactions import Interactions
from pipeline.models.base import WEIGHTS_FILE, ScoringContext, read_description
from pipeline.models.towers import mlp_tower
from pipeline.training.fold_in import FoldInConfig, drop_user_ids, fold_in_user_embeddings
from pipeline.training.objectives import pointwise_log_loss
from pipeline.training.sampled import SampledNegativesConfig, SampledNegativesRecommender

SCORING_CHUNK = 256  # users scored against the whole catalogue at once: bounds the [chunk, items, hidden] tensor


class NCFConfig(SampledNegativesConfig, FoldInConfig):
    # chosen on MovieTweetings validation; the paper uses batches of 256 and Adam at 1e-3 too
    batch_size: int = Field(256, ge=1, description="observed interactions per step")
    epochs: int = Field(40, ge=1, description="upper bound; early stopping usually ends sooner")
    unknown_user_rate: float = Field(0.0, ge=0, lt=1, description="share of training pairs whose user is replaced "
                                     "by the unknown user, the fold-in start for new users; 0: the paper's model")


class GMFConfig(NCFConfig):
    embedding_dim: int = Field(64, ge=1, description="GMF predictive factors")


class MLPConfig(NCFConfig):
    layers: tuple[int, ...] = Field(
        (64, 32, 16), description="tower sizes; the first is the concatenated user+item embedding size"
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="between tower layers")

    @field_validator("layers")
    @classmethod
    def _splits_into_two_embeddings(cls, layers: tuple[int, ...]) -> tuple[int, ...]:
        if len(layers) < 2 or layers[0] % 2:
            raise ValueError(
                f"layers must have >= 2 entries and an even first size (user + item embedding), got {layers}"
            )
        return layers


class NeuMFConfig(GMFConfig, MLPConfig):
    pretrained_gmf: Path | None = Field(None, description="directory of a trained `gmf` model with the same sizes")
    pretrained_mlp: Path | None = Field(None, description="directory of a trained `mlp` model with the same sizes")
    pretrain_alpha: float = Field(0.5, ge=0, le=1, description="weight of the GMF output layer when both are loaded")


class NCFNetwork(torch.nn.Module):
    """GMF and/or MLP parts behind one output layer; `forward(users [n], items [n, m]) -> logits [n, m]`."""

    def __init__(self, n_users: int, n_items: int, gmf_dim: int | None, layers: tuple[int, ...] | None, dropout: float):
        super().__init__()
        width = 0
        if gmf_dim is not None:
            self.gmf_user = torch.nn.Embedding(n_users, gmf_dim)
            self.gmf_item = torch.nn.Embedding(n_items, gmf_dim)
            width += gmf_dim
        if layers is not None:
            self.mlp_user = torch.nn.Embedding(n_users, layers[0] // 2)
            self.mlp_item = torch.nn.Embedding(n_items, layers[0] // 2)
            self.tower = mlp_tower(layers, dropout)
            width += layers[-1]
        for embedding in self.user_tables() + self.item_tables():
            torch.nn.init.normal_(embedding.weight, std=0.01)
        self.output = torch.nn.Linear(width, 1)
        torch.nn.init.kaiming_uniform_(self.output.weight, a=1, nonlinearity="sigmoid")
        torch.nn.init.zeros_(self.output.bias)

    def user_tables(self) -> list[torch.nn.Embedding]:
        return [getattr(self, name) for name in ("gmf_user", "mlp_user") if hasattr(self, name)]

    def item_tables(self) -> list[torch.nn.Embedding]:
        return [getattr(self, name) for name in ("gmf_item", "mlp_item") if hasattr(self, name)]

    def forward(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for `items` [n, m] of each user, or for every item when `items` is None.

        The output layer is applied per part (it is linear), so GMF against the whole catalogue is a
        matrix product, and the MLP's first layer on [p_u, q_i] is applied as W_u p_u + W_i q_i, so the
        concatenation is never materialised.
        """

        def item_rows(table: torch.nn.Embedding) -> torch.Tensor:  # [n or 1, m, dim]
            return table.weight.unsqueeze(0) if items is None else table(items)

        weight, logits = self.output.weight[0], self.output.bias
        gmf_width = self.gmf_user.embedding_dim if hasattr(self, "gmf_user") else 0
        if gmf_width:
            user = (self.gmf_user(users) * weight[:gmf_width]).unsqueeze(-1)
            logits = logits + (item_rows(self.gmf_item) @ user).squeeze(-1)
        if hasattr(self, "mlp_user"):
            first, half = self.tower[0], self.mlp_user.embedding_dim
            hidden = F.linear(self.mlp_user(users), first.weight[:, :half]).unsqueeze(1) + F.linear(
                item_rows(self.mlp_item), first.weight[:, half:], first.bias
            )
            logits = logits + self.tower[1:](hidden) @ weight[gmf_width:]
        return logits


class NeuralCollaborativeFiltering(SampledNegativesRecommender):
    """Shared training, scoring and fold-in; subclasses choose which parts the network has."""

    config: NCFConfig
    uses_gmf: ClassVar[bool]
    uses_mlp: ClassVar[bool]

    def build_module(self) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        return NCFNetwork(
            self.n_users + 1,  # the last row is the unknown user (trained only when unknown_user_rate > 0)
            self.n_items,
            getattr(self.config, "embedding_dim", None) if self.uses_gmf else None,
            getattr(self.config, "layers", None) if self.uses_mlp else None,
            getattr(self.config, "dropout", 0.0),
        )

    def candidate_loss(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        users = drop_user_ids(users, self.config.unknown_user_rate, self.n_users, self.generator)
        logits = self.module(users, candidates).float()
        return pointwise_log_loss(logits[:, 0], logits[:, 1:])

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return torch.cat([self.module(chunk) for chunk in users.split(SCORING_CHUNK)])

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:
        fold_in_user_embeddings(self.module, self.module.user_tables(), users, history, self.module,
                                pointwise_log_loss, self.config, self.config.seed,
                                unknown_user_prior=self.config.unknown_user_rate > 0)


class GMF(NeuralCollaborativeFiltering):
    name = "gmf"
    Config = GMFConfig
    uses_gmf, uses_mlp = True, False


class MLP(NeuralCollaborativeFiltering):
    name = "mlp"
    Config = MLPConfig
    uses_gmf, uses_mlp = False, True


class NeuMF(NeuralCollaborativeFiltering):
    name = "neumf"
    Config = NeuMFConfig
    config: NeuMFConfig
    uses_gmf, uses_mlp = True, True

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        self._load_pretrained()
        return super().fit(train, valid)

    @torch.no_grad()
    def _load_pretrained(self) -> None:
        sources = {"gmf": self.config.pretrained_gmf, "mlp": self.config.pretrained_mlp}
        loaded = {kind: self._pretrained_state(kind, directory) for kind, directory in sources.items() if directory}
        if not loaded:
            return
        network = self.module
        gmf_width = self.config.embedding_dim
        alpha = {"gmf": self.config.pretrain_alpha, "mlp": 1 - self.config.pretrain_alpha}
        if len(loaded) == 1:
            alpha = dict.fromkeys(alpha, 1.0)
        bias = network.output.bias.zero_()
        for kind, state in loaded.items():
            parts = {key: value for key, value in state.items() if not key.startswith("output.")}
            unexpected = network.load_state_dict(parts, strict=False).unexpected_keys
            if unexpected:  # e.g. a tower built with dropout layers at other positions
                raise ValueError(f"pretrained_{kind} has parameters NeuMF lacks: {unexpected}; use the same "
                                 "layers and dropout (zero or non-zero) in both configurations")
            columns = slice(0, gmf_width) if kind == "gmf" else slice(gmf_width, None)
            network.output.weight[:, columns] = alpha[kind] * state["output.weight"]
            bias += alpha[kind] * state["output.bias"]

    def _pretrained_state(self, kind: str, directory: Path) -> dict[str, torch.Tensor]:
        description = read_description(directory)
        sizes = ["embedding_dim"] if kind == "gmf" else ["layers"]
        ours = self.config.model_dump(mode="json")
        found = {key: description["config"].get(key) for key in sizes}
        if description["model"] != kind or found != {key: ours[key] for key in sizes} or (
            description["n_users"], description["n_items"]) != (self.n_users, self.n_items):
            raise ValueError(
                f"pretrained_{kind} '{directory}' holds a '{description['model']}' model with {found} for "
                f"{description['n_users']} users x {description['n_items']} items; NeuMF needs a '{kind}' model with "
                f"{ {key: ours[key] for key in sizes} } trained on the same split"
            )
        return torch.load(directory / WEIGHTS_FILE, map_location=self.device, weights_only=True)
