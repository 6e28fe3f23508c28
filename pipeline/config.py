"""Typed, frozen views of params.yaml sections, so a typo in a parameter fails before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.paths import PARAMS_FILE


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(Section):
    source: str = "movietweetings"
    path: Path = Path("data/raw")
    kcore: int = Field(5, ge=0, description="iteratively drop users and items with fewer interactions")


class SplitParams(Section):
    valid_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    cold_user_fraction: float = Field(0.1, ge=0, lt=1, description="seeded share of users held out of training")
    cold_item_fraction: float = Field(0.1, ge=0, lt=1, description="share of items, latest first seen, held out")
    reveal: tuple[int, ...] = Field((1, 3, 5), description="interactions each cold user reveals")
    sparsity: tuple[float, ...] = Field((0.5, 0.2), description="fractions of warm training kept per user")
    leave_last_out: bool = Field(True, description="also train and score under leave-last-one-out")

    @field_validator("sparsity")
    @classmethod
    def _fractions(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < value < 1 for value in values):
            raise ValueError("split.sparsity fractions must lie strictly between 0 and 1 (1.0 is the warm regime)")
        return values


class ValidationParams(Section):
    min_rows: int = Field(1000, ge=1)
    # None leaves that side open, e.g. rating_max: null when ratings are play counts.
    rating_min: float | None = 0.0
    rating_max: float | None = 10.0
    earliest_timestamp: int = Field(
        788918400, description="1995-01-01 (MovieLens-100K and Amazon start in 1996-97); earlier stamps are corrupt"
    )

    @model_validator(mode="after")
    def _rating_range_is_ordered(self) -> ValidationParams:
        if self.rating_min is not None and self.rating_max is not None and self.rating_min > self.rating_max:
            raise ValueError(f"validation.rating_min ({self.rating_min}) exceeds rating_max ({self.rating_max})")
        return self


class EvaluationParams(Section):
    ks: tuple[int, ...] = (5, 10, 20, 50)
    batch_size: int = Field(1024, ge=1)
    selection_metric: str = "ndcg@10"
    topk_list_length: int = Field(50, ge=1)
    bootstrap_samples: int = Field(1000, ge=100, description="resamples of users for the 95% intervals")
    sampled_negatives: int = Field(99, ge=0, description="the labelled 1+N sampled protocol; 0 turns it off")


class TrainParams(Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"


class RegistryParams(Section):
    experiment: str = "recommender-pipeline"
    model_name: str = "recommender"
    champion_metric: str = "ndcg@10"
    require_approval: bool = False


class Params(Section):
    seed: int = 2020
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    validation: ValidationParams = ValidationParams()
    evaluation: EvaluationParams = EvaluationParams()
    train: TrainParams = TrainParams()
    registry: RegistryParams = RegistryParams()
    # Model name -> that model's hyperparameters; `model:` picks the class when the name is an alias.
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; unknown keys are errors so typos cannot pass silently."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return Params.model_validate(raw)
