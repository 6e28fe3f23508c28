"""Search spaces are checked against each model's own Config before any trial runs: a mistake fails in
seconds with a message naming the model, the setting and what to change; the shipped spaces fit every model."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from pydantic import ValidationError

from pipeline.config import SearchDimension, TuneParams, load_params
from pipeline.tuning.params_file import write_model_settings
from pipeline.tuning.space import check_space_names, resolve_space

REPO_ROOT = Path(__file__).resolve().parents[2]


def space(model: str, settings: dict, **dimensions: dict):
    return resolve_space(model, settings, TuneParams.model_validate({"spaces": {model: dimensions}}).spaces)


def test_the_shipped_spaces_fit_every_configured_model_and_its_current_settings() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    check_space_names(params.tune.spaces, params.models)
    for name, settings in params.models.items():
        resolved = resolve_space(name, settings, params.tune.spaces)
        assert name == "popularity" or resolved.dimensions, f"{name} has nothing to tune"


@pytest.mark.parametrize(("dimensions", "message"), [
    ({"l3": {"low": 1.0, "high": 10.0}}, r"tune.spaces.ease: 'l3' is not a setting of EASEConfig; its settings are l2"),
    ({"l2": {"low": 1000.0, "high": 5000.0}}, r"tune.spaces.ease.l2: the current setting 500.0 lies outside"),
    ({"l2": {"low": -1.0, "high": 10.0}}, r"tune.spaces.ease.l2: l2: Input should be greater than 0"),
    ({"max_items": {"low": 10.5, "high": 50000}}, r"tune.spaces.ease.max_items: an integer setting needs whole"),
])
def test_a_space_that_does_not_fit_the_model_names_the_model_and_the_setting(dimensions: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        space("ease", {"l2": 500.0}, **dimensions)


def test_non_numeric_settings_take_choices_and_choices_are_validated() -> None:
    with pytest.raises(ValueError, match=r"tune.spaces.cdae.activation: the setting is not a number; list its"):
        space("cdae", {}, activation={"low": 0.0, "high": 1.0})
    with pytest.raises(ValueError, match=r"tune.spaces.cdae.activation: activation: Input should be 'sigmoid'"):
        space("cdae", {}, activation={"choices": ["relu", "gelu"]})


def test_range_and_choice_dimensions_are_rejected_when_malformed() -> None:
    for malformed in ({"low": 1.0}, {"low": 2.0, "high": 1.0}, {"low": 1.0, "high": 2.0, "choices": [1]}, {},
                      {"low": 0.0, "high": 1.0, "log": True}):
        with pytest.raises(ValidationError):
            SearchDimension.model_validate(malformed)


def test_spaces_are_found_by_name_or_class_and_unknown_names_are_errors() -> None:
    configured = {"ease_strong": {"model": "ease", "l2": 2000.0}}
    spaces = TuneParams.model_validate({"spaces": {"ease": {"l2": {"low": 100.0, "high": 1.0e4, "log": True}}}}).spaces
    assert resolve_space("ease_strong", configured["ease_strong"], spaces).current == {"l2": 2000.0}
    with pytest.raises(ValueError, match=r"tune.spaces has no entry for model 'multvae'.*docs/tuning.md"):
        resolve_space("multvae", {}, spaces)
    with pytest.raises(ValueError, match=r"tune.spaces: multvea names neither a model configured"):
        check_space_names({"multvea": {}}, configured)


def test_list_choices_reach_optuna_as_labels_and_come_back_as_lists() -> None:
    resolved = space("multvae", {"hidden_sizes": [300]}, hidden_sizes={"choices": [[300], [600, 200]]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(resolved.trial_zero())
    trial = study.ask()
    assert resolved.suggest(trial) == {"hidden_sizes": [300]}
    assert trial.params == {"hidden_sizes": "[300]"}


def test_writing_settings_changes_only_those_keys_and_keeps_comments(tmp_path: Path) -> None:
    original = "seed: 1   # kept\nmodels:\n  content: {}        # no settings yet\n  ease: {l2: 500.0}  # chosen by hand\n"
    path = tmp_path / "params.yaml"
    path.write_text(original)
    write_model_settings(path, "ease", {"l2": 1344.4012411401209})
    write_model_settings(path, "content", {"category_weight": 2.5})
    assert path.read_text() == ("seed: 1   # kept\nmodels:\n  content: {category_weight: 2.5} # no settings yet\n"
                                "  ease: {l2: 1344.4012411401209} # chosen by hand\n")
    assert yaml.safe_load(path.read_text())["models"]["ease"]["l2"] == 1344.4012411401209
    with pytest.raises(ValueError, match="has no models.multvae"):
        write_model_settings(path, "multvae", {"dropout": 0.5})
