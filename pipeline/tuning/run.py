"""What `recsys tune` and the Prefect tuning flow share: from the repository root, check every requested
model's space before anything trains, search one model on the data the split stage wrote, and write the best
settings into params.yaml's `models.<name>` when they beat the current ones (docs/tuning.md)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable

import optuna

from pipeline import paths
from pipeline.config import load_params
from pipeline.registry.tracking import configure_tracking
from pipeline.stages.cli import USER_ERRORS
from pipeline.stages.train import load_regime_data, model_params
from pipeline.training.device import resolve_device
from pipeline.tuning.params_file import write_model_settings
from pipeline.tuning.search import TrialReport, TuningResult, tune_model
from pipeline.tuning.space import check_space_names, resolve_space


def check_request(names: Iterable[str]) -> None:
    """Fail in seconds, before the first trial, on an unconfigured model or a space that does not fit its model."""
    params = load_params()
    check_space_names(params.tune.spaces, params.models)
    for name in names:
        resolve_space(name, model_params(params, name), params.tune.spaces)
    if not paths.split_dir("warm").is_dir():
        raise FileNotFoundError(f"{paths.split_dir('warm')} not found: run `dvc repro split` first")


def tune_configured_model(name: str, trials: int | None = None, timeout_seconds: float | None = None,
                          write: bool = True, on_trial: Callable[[TrialReport], None] | None = None) -> TuningResult:
    """Search `models.<name>` of ./params.yaml, read afresh so settings tuned for an earlier model are kept."""
    params = load_params()
    configure_tracking(params.tune.experiment)
    result = tune_model(name, params, load_regime_data(), resolve_device(params.train.device), trials,
                        timeout_seconds, on_trial)
    if write and result.improved and result.changes:
        write_model_settings(paths.PARAMS_FILE, name, result.changes)
        result = dataclasses.replace(result, written_to=paths.PARAMS_FILE)
    return result


def describe_result(result: TuningResult) -> str:
    """The closing lines of one model's search: the default and best score and where the settings went."""
    lines = [f"{result.model}: validation {result.metric} {result.default_value:.4f} with the current settings, "
             f"best {result.best_value:.4f} ({result.trials} trials, {result.pruned} pruned, "
             f"{result.seconds:.0f} s; MLflow run {result.run_id})"]
    if result.written_to is not None:
        changed = ", ".join(f"{key}: {value}" for key, value in result.changes.items())
        lines.append(f"  wrote models.{result.model}: {{{changed}}} to {result.written_to}; "
                     f"`dvc repro train@{result.model} evaluate@{result.model}` trains it, "
                     f"`git checkout {result.written_to}` undoes it")
    elif result.improved:
        lines.append(f"  not written (--no-write); best settings: {result.best_settings}")
    else:
        lines.append(f"  the current settings stay: no trial beat them; {paths.PARAMS_FILE} unchanged")
    return "\n".join(lines)


def run_tuning(names: list[str] | None, trials: int | None, timeout_seconds: float | None, write: bool) -> int:
    """`recsys tune`: every named model (default: every configured one) in turn, a line per trial, then each
    model's default and best score and where its settings went. Returns the exit status."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the per-trial line below replaces Optuna's own
    try:
        names = names or list(load_params().models)
        check_request(names)
        for name in names:
            result = tune_configured_model(name, trials, timeout_seconds, write,
                                           on_trial=lambda report: print(report.line(), flush=True))
            print(describe_result(result), flush=True)
    except USER_ERRORS as error:
        print(f"recsys tune: error: {error}", file=sys.stderr)
        return 1
    return 0
