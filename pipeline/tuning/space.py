"""A model's search space, from `tune.spaces` in params.yaml, checked against the model's own Config before any
trial runs (a typo or an impossible range fails in seconds, naming the model and the setting), then turned
into Optuna suggestions.

Whether a range is sampled as integers or reals follows the model's field, so params.yaml says only where
to look. Trial 0 always runs the current `models.<name>` settings, so each of them must lie inside its
dimension: the best found can then never be worse than what the pipeline trains today.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from pydantic import ValidationError

from pipeline.config import SearchDimension
from pipeline.models.base import ModelConfig
from pipeline.models.registry import MODEL_CLASSES, model_class

Kind = Literal["int", "float", "categorical"]


@dataclass(frozen=True)
class Dimension:
    """One searched setting. Choices are held in their JSON form (tuples as lists); choices that are lists
    (layer sizes) reach Optuna as their JSON text, since Optuna stores only scalar choices."""

    setting: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def labelled(self) -> bool:
        return any(isinstance(choice, list | dict) for choice in self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "int":
            return trial.suggest_int(self.setting, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.setting, self.low, self.high, log=self.log)
        options = [json.dumps(choice) for choice in self.choices] if self.labelled else list(self.choices)
        picked = trial.suggest_categorical(self.setting, options)
        return json.loads(picked) if self.labelled else picked

    def optuna_value(self, value: Any) -> Any:
        """How Optuna records `value` of this setting (to enqueue trial 0)."""
        return json.dumps(value) if self.labelled else value


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]
    current: dict[str, Any]  # the current value of each searched setting: trial 0

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {dimension.setting: dimension.suggest(trial) for dimension in self.dimensions}

    def trial_zero(self) -> dict[str, Any]:
        return {dimension.setting: dimension.optuna_value(self.current[dimension.setting])
                for dimension in self.dimensions}


def resolve_space(name: str, settings: Mapping[str, Any], spaces: Mapping[str, Mapping[str, SearchDimension]]
                  ) -> SearchSpace:
    """The space for `models.<name>` (its own entry, else its class's), validated against its Config."""
    model_type = settings.get("model", name)
    key = name if name in spaces else model_type
    if key not in spaces:
        raise ValueError(f"tune.spaces has no entry for model '{name}' (nor for its class '{model_type}'); add one to "
                         f"params.yaml, e.g. `{model_type}: {{learning_rate: {{low: 1.0e-4, high: 1.0e-2, log: true}}}}`"
                         " (docs/tuning.md)")
    config_class = model_class(model_type).Config
    own_settings = {setting: value for setting, value in settings.items() if setting != "model"}
    checker = _SettingChecker(f"tune.spaces.{key}", config_class, own_settings, f"models.{name}")
    dimensions = tuple(checker.dimension(setting, spec) for setting, spec in spaces[key].items())
    current = {dimension.setting: checker.current[dimension.setting] for dimension in dimensions}
    return SearchSpace(dimensions=dimensions, current=current)


def check_space_names(spaces: Mapping[str, Any], configured: Mapping[str, Any]) -> None:
    """Every `tune.spaces` key must name a configured model or a model class: a misspelt key would otherwise
    leave its model without a space, or sit unused."""
    unknown = [key for key in spaces if key not in configured and key not in MODEL_CLASSES]
    if unknown:
        raise ValueError(f"tune.spaces: {', '.join(unknown)} names neither a model configured under `models` nor a "
                         f"model class ({', '.join(sorted(MODEL_CLASSES))})")


class _SettingChecker:
    """Validates each searched value through the model's Config, so the space obeys the same constraints
    (ranges, types) as params.yaml's `models` section."""

    def __init__(self, where: str, config_class: type[ModelConfig], settings: dict[str, Any], settings_where: str):
        self.where, self.config_class, self.settings = where, config_class, settings
        self.current = self._validated(settings, settings_where)

    def dimension(self, setting: str, spec: SearchDimension) -> Dimension:
        fields = self.config_class.model_fields
        if setting not in fields:
            raise ValueError(f"{self.where}: '{setting}' is not a setting of {self.config_class.__name__}; "
                             f"its settings are {', '.join(fields)}")
        if spec.choices is not None:
            choices = tuple(self._value_of(setting, choice) for choice in spec.choices)
            dimension = Dimension(setting, "categorical", choices=choices)
            inside = self.current[setting] in choices
        else:
            kind = _numeric_kind(fields[setting].annotation)
            if kind is None:
                raise ValueError(f"{self.where}.{setting}: the setting is not a number; list its values as choices")
            if kind == "int" and not (float(spec.low).is_integer() and float(spec.high).is_integer()):
                raise ValueError(f"{self.where}.{setting}: an integer setting needs whole-number low and high")
            low, high = (self._value_of(setting, bound) for bound in (spec.low, spec.high))
            dimension = Dimension(setting, kind, low=low, high=high, log=spec.log)
            inside = low <= self.current[setting] <= high
        if not inside:
            raise ValueError(f"{self.where}.{setting}: the current setting {self.current[setting]!r} lies outside the "
                             "space; trial 0 runs the current settings, so widen the space or change the setting")
        return dimension

    def _value_of(self, setting: str, value: Any) -> Any:
        return self._validated({**self.settings, setting: value}, f"{self.where}.{setting}")[setting]

    def _validated(self, settings: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            return self.config_class.model_validate(settings).model_dump(mode="json")
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"{where}: {problems}") from None


def _numeric_kind(annotation: Any) -> Kind | None:
    """int or float for a field typed so (also `float | None`); None for anything else (bool is not a number)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    return {int: "int", float: "float"}.get(annotation)
