"""One model's hyperparameter search: Optuna proposes settings from the model's space, each trial trains the
model exactly as the train stage does (same seed, same warm training set) and is scored on the warm validation
part with the number the evaluate stage writes to metrics/<model>.json as warm/valid. Test is never loaded.

Trial 0 runs the current `models.<name>` settings and the sampler is seeded, so a search is reproducible and
its best is never below today's settings. Gradient-trained models report validation after every epoch
through the training loop's `epoch_callbacks`, and poor trials are pruned; closed-form and neighbourhood
models have no epochs, finish every trial, and get the same trial budget (a fair leaderboard).

MLflow: one parent run per model searched, every trial a nested run (its settings, its state, its per-epoch
curve, its validation score), the default and best score and the best settings on the parent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
import torch
from mlflow import MlflowClient

from pipeline.config import Params, PrunerParams
from pipeline.evaluation.protocol import evaluate_ranking
from pipeline.evaluation.regimes import WARM, RegimeData
from pipeline.models.base import Recommender
from pipeline.models.registry import create_model
from pipeline.registry.tracking import VERSION_TAG_MODEL, metric_key, run_metrics
from pipeline.stages.train import model_params
from pipeline.training.device import seed_everything
from pipeline.training.trainer import IterativeRecommender
from pipeline.tuning.space import Dimension, SearchSpace, resolve_space

TRIAL_STATE_TAG = "tuning.state"  # COMPLETE or PRUNED on each trial's run
SETTINGS_ATTRIBUTE = "settings"  # a trial's sampled settings in their JSON form (lists, not Optuna's labels)


@dataclass(frozen=True)
class TrialReport:
    """What progress output shows after each trial."""

    model: str
    metric: str
    budget: int  # trials planned
    number: int
    state: str
    value: float | None
    epochs: int
    best_value: float | None
    settings: dict[str, Any]

    def line(self) -> str:
        outcome = f"{self.metric} {self.value:.4f}" if self.state == "COMPLETE" else f"{self.state.lower()}"
        if self.state == "PRUNED":
            outcome += f" after epoch {self.epochs}"
        best = f"best {self.best_value:.4f}" if self.best_value is not None else "no finished trial yet"
        shown = ", ".join(f"{key}={_short(value)}" for key, value in self.settings.items()) or "no settings to tune"
        return f"{self.model} trial {self.number + 1}/{self.budget}: {outcome} ({best}) | {shown}"


@dataclass(frozen=True)
class TuningResult:
    model: str
    metric: str
    default_value: float  # trial 0: the current settings
    best_value: float
    current_settings: dict[str, Any]  # the searched settings as params.yaml has them (trial 0)
    best_settings: dict[str, Any]  # the searched settings of the best trial
    trials: int  # trials that ran (complete or pruned)
    pruned: int
    seconds: float
    run_id: str  # the parent MLflow run
    written_to: Path | None = None  # the params file the best settings were written to, if they were

    @property
    def improved(self) -> bool:
        return self.best_value > self.default_value

    @property
    def changes(self) -> dict[str, Any]:
        """The best settings that differ from the current ones: what writing them back changes."""
        return {key: value for key, value in self.best_settings.items() if self.current_settings.get(key) != value}


def make_pruner(settings: PrunerParams) -> optuna.pruners.BasePruner:
    if settings.kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_epochs)


def warm_validation_score(model: Recommender, data: RegimeData, metric: str, batch_size: int) -> float:
    """`metric` on the warm validation part, ranked as the evaluate stage ranks it (warm items only)."""
    evaluation_set = data.warm_like_sets(WARM)["valid"]
    train = data.warm["train"]
    result = evaluate_ranking(model, evaluation_set, [int(metric.split("@")[1])], batch_size, train.item_counts,
                              train.n_users)
    return result.summary[metric]


def prune_on_validation(trial: optuna.Trial, record_key: str) -> Callable[[dict[str, float]], None]:
    """An epoch callback for the training loop: report the epoch's validation metric, stop if Optuna prunes."""

    def report(record: dict[str, float]) -> None:
        if record_key not in record:
            return
        trial.report(record[record_key], step=int(record["epoch"]))
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation {record[record_key]:.4f} after epoch {int(record['epoch'])} is "
                                     "below the median of earlier trials")

    return report


class TrialObjective:
    """Train and score one trial's settings, recorded as a nested MLflow run under the active (parent) run."""

    def __init__(self, name: str, params: Params, space: SearchSpace, data: RegimeData, device: torch.device):
        self.name, self.params, self.space, self.data, self.device = name, params, space, data, device
        self.base_settings = model_params(params, name)
        self.metric = params.evaluation.selection_metric

    def __call__(self, trial: optuna.Trial) -> float:
        sampled = self.space.suggest(trial)
        trial.set_user_attr(SETTINGS_ATTRIBUTE, sampled)
        train, valid = self.data.warm["train"], self.data.warm["valid"]
        with mlflow.start_run(run_name=f"{self.name} trial {trial.number}", nested=True) as run:
            seed_everything(self.params.seed)  # as the train stage does before each training
            model = create_model(self.name, {**self.base_settings, **sampled}, self.data.index.n_users,
                                 self.data.index.n_items, self.device, self.params.seed,
                                 max_seconds=self.params.train.max_seconds)
            mlflow.set_tags({VERSION_TAG_MODEL: self.name, "tuning.trial": str(trial.number)})
            mlflow.log_params({**model.config.model_dump(mode="json"), "model_type": model.name})
            if isinstance(model, IterativeRecommender):
                model.epoch_callbacks.append(prune_on_validation(trial, f"valid_{model.config.selection_metric}"))
            pruned: optuna.TrialPruned | None = None
            try:
                model.fit(train, valid)
            except optuna.TrialPruned as signal:
                pruned = signal
            report = {} if pruned else {WARM: {"valid": {self.metric: self._score(model)}}}
            MlflowClient().log_batch(run.info.run_id, metrics=run_metrics(report, getattr(model, "training_log", [])))
            mlflow.set_tag(TRIAL_STATE_TAG, "PRUNED" if pruned else "COMPLETE")
        if pruned:
            raise pruned
        return report[WARM]["valid"][self.metric]

    def _score(self, model: Recommender) -> float:
        return warm_validation_score(model, self.data, self.metric, self.params.evaluation.batch_size)


def tune_model(name: str, params: Params, data: RegimeData, device: torch.device, trials: int | None = None,
               timeout_seconds: float | None = None, on_trial: Callable[[TrialReport], None] | None = None,
               ) -> TuningResult:
    """Search `models.<name>`'s space under the budget of `params.tune` (or `trials` / `timeout_seconds`).

    Runs inside the MLflow experiment already set (see `configure_tracking`)."""
    tune = params.tune
    space = resolve_space(name, model_params(params, name), tune.spaces)
    # a model with nothing to search runs its current settings once: repeating them would only repeat the number
    budget = (tune.trials if trials is None else trials) if space.dimensions else 1
    timeout = tune.timeout_seconds if timeout_seconds is None else timeout_seconds
    if budget < 1 or (timeout is not None and timeout <= 0):
        raise ValueError(f"the tuning budget needs at least one trial and a positive timeout (got trials={budget}, "
                         f"timeout={timeout})")
    metric = params.evaluation.selection_metric
    sampler_seed = params.seed if tune.seed is None else tune.seed
    study = optuna.create_study(study_name=name, direction="maximize", pruner=make_pruner(tune.pruner),
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed))
    study.enqueue_trial(space.trial_zero())
    callbacks = [] if on_trial is None else [
        lambda study, trial: on_trial(_trial_report(name, metric, budget, study, trial))]
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"tune {name}") as parent:
        mlflow.set_tags({VERSION_TAG_MODEL: name, "tuning.metric": metric})
        mlflow.log_params({"trials": budget, "timeout_seconds": timeout, "sampler_seed": sampler_seed,
                           "pruner": tune.pruner.kind, "seed": params.seed})
        mlflow.log_dict({dimension.setting: _describe(dimension) for dimension in space.dimensions},
                        "tuning/space.json")
        study.optimize(TrialObjective(name, params, space, data, device), n_trials=budget, timeout=timeout,
                       callbacks=callbacks)
        result = _summarise(name, metric, space, study, time.perf_counter() - started, parent.info.run_id)
        mlflow.log_metrics({f"default/{metric_key(WARM, 'valid', metric)}": result.default_value,
                            f"best/{metric_key(WARM, 'valid', metric)}": result.best_value,
                            "trials_pruned": result.pruned, "trials_run": result.trials})
        mlflow.log_dict(result.best_settings, "tuning/best_settings.json")
        mlflow.set_tag("tuning.best_trial", str(study.best_trial.number))
    return result


def _summarise(name: str, metric: str, space: SearchSpace, study: optuna.Study, seconds: float, run_id: str
               ) -> TuningResult:
    default = study.trials[0]
    if default.state != optuna.trial.TrialState.COMPLETE:
        raise RuntimeError(f"trial 0 of {name} (its current settings) did not finish ({default.state.name})")
    best = study.best_trial  # the first of equal values, so a tie keeps the current settings
    finished = [trial for trial in study.trials if trial.state.is_finished()]
    return TuningResult(
        model=name, metric=metric, default_value=float(default.value), best_value=float(best.value),
        current_settings=dict(space.current), best_settings=dict(best.user_attrs[SETTINGS_ATTRIBUTE]), trials=len(finished),
        pruned=sum(trial.state == optuna.trial.TrialState.PRUNED for trial in finished),
        seconds=seconds, run_id=run_id,
    )


def _trial_report(name: str, metric: str, budget: int, study: optuna.Study, trial: optuna.trial.FrozenTrial
                  ) -> TrialReport:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return TrialReport(
        model=name, metric=metric, budget=budget, number=trial.number, state=trial.state.name, value=trial.value,
        epochs=max(trial.intermediate_values, default=0),
        best_value=max((t.value for t in complete), default=None),
        settings=trial.user_attrs.get(SETTINGS_ATTRIBUTE, {}),
    )


def _describe(dimension: Dimension) -> dict[str, Any]:
    if dimension.kind == "categorical":
        return {"choices": list(dimension.choices)}
    return {"low": dimension.low, "high": dimension.high, "log": dimension.log, "type": dimension.kind}


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
