"""The one interface every recommender implements (DESIGN.md section 4).

Models see users and items only as dense indices (pipeline.data.interactions.IdIndex maps ids).
Ranking, masking of seen items, batching and metrics live in pipeline.evaluation, never in a model.
All learned tensors live in `self.module` so that saving is uniform and safe: a JSON config plus a
state_dict loaded with `weights_only=True`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from pipeline.data.interactions import Interactions

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


class ModelConfig(BaseModel):
    """Hyperparameters of one model; unknown keys in params.yaml are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class ScoringContext:
    """What is known when scoring: the interaction history (train for validation, train+valid for test,
    revealed interactions for cold users). Models that need history (item-KNN, EASE, autoencoders,
    sequence models) read it from here; embedding models may ignore it."""

    history: Interactions


COLLABORATIVE_ONLY = "collaborative model: new items have no interactions to learn from"


class Recommender(ABC):
    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    # Regimes this model cannot serve, with the reason reported in place of metrics (never random scores).
    # Content-aware models that score unseen items from their features override this with {}.
    unsupported_regimes: ClassVar[dict[str, str]] = {"cold_items": COLLABORATIVE_ONLY}

    def __init__(self, config: ModelConfig, n_users: int, n_items: int, device: torch.device | str = "cpu"):
        self.config = config
        self.n_users = n_users
        self.n_items = n_items
        self.device = torch.device(device)
        self.module: torch.nn.Module = self.build_module().to(self.device)

    @abstractmethod
    def build_module(self) -> torch.nn.Module:
        """Create the (untrained) parameters and buffers of the model."""

    @abstractmethod
    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        """Learn from `train`; `valid` (when given) drives early stopping, never gradient updates."""

    @abstractmethod
    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        """Preference scores, shape [len(users), n_items], higher is better; masking is the caller's job."""

    def iter_item_scores(
        self, users: torch.Tensor, context: ScoringContext, chunk_size: int
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """(item range, scores [len(users), range length]) for consecutive ranges of at most `chunk_size`
        items covering the catalogue in order, so full ranking can run in batch x chunk memory.

        The default slices one `score` call, which holds the model's own [len(users), n_items] output;
        models whose item side is a table (embeddings, counts) override this to score each range alone.
        """
        scores = self.score(users, context)
        for items in item_ranges(self.n_items, chunk_size):
            yield items, scores[:, items]

    def fold_in(self, users: np.ndarray, history: Interactions) -> None:  # noqa: B027 (a no-op by default)
        """Prepare to score `users` that were absent from training, from the interactions they revealed.

        Models that score from the history itself (item-KNN, EASE, autoencoders, sequence models) need
        nothing; models with per-user parameters override this to fit those users' parameters with every
        item parameter frozen.
        """

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        description = {
            "model": self.name,
            "config": self.config.model_dump(mode="json"),
            "n_users": self.n_users,
            "n_items": self.n_items,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
        state = {key: value.detach().cpu() for key, value in self.module.state_dict().items()}
        torch.save(state, directory / WEIGHTS_FILE)

    @classmethod
    def from_description(cls, description: dict[str, Any], device: torch.device | str = "cpu") -> Self:
        config = cls.Config.model_validate(description["config"])
        return cls(config, int(description["n_users"]), int(description["n_items"]), device)

    def load_weights(self, directory: Path) -> Self:
        state = torch.load(directory / WEIGHTS_FILE, map_location=self.device, weights_only=True)
        _resize_buffers(self.module, state)
        self.module.load_state_dict(state)
        self.module.eval()
        return self


def item_ranges(n_items: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive item-index ranges of at most `chunk_size` items, in catalogue order."""
    if chunk_size < 1:
        raise ValueError(f"item chunk size must be at least 1, got {chunk_size}")
    for start in range(0, n_items, chunk_size):
        yield slice(start, min(start + chunk_size, n_items))


def _resize_buffers(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Buffers sized by the data (a vocabulary, a sparse matrix's entries) take the saved shape."""
    for key, value in state.items():
        owner_name, _, buffer_name = key.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if buffer_name in owner._buffers and owner._buffers[buffer_name].shape != value.shape:
            owner._buffers[buffer_name] = torch.empty_like(value, device=owner._buffers[buffer_name].device)


def read_description(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is '{directory}' a trained model directory?")
    return json.loads(path.read_text(encoding="utf-8"))
