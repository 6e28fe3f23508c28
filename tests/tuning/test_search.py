"""`recsys tune` on a tiny real project: trials as nested MLflow runs, pruning, best >= the current settings,
the best settings written where the train stage reads them and reproduced by the train and evaluate stages."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from pipeline import paths
from pipeline.cli import main as recsys
from pipeline.stages import evaluate, train
from pipeline.tuning.run import tune_configured_model
from pipeline.tuning.search import TRIAL_STATE_TAG
from tests.tuning.project import EXPERIMENT, MULTVAE_EPOCHS, TuningProject


def run_stage(module, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage's main as `dvc repro <stage>@<name>` runs it."""
    monkeypatch.setattr(sys, "argv", [module.__name__, name])
    module.main()


def reproduced_valid_ndcg(name: str, monkeypatch: pytest.MonkeyPatch) -> float:
    run_stage(train, name, monkeypatch)
    run_stage(evaluate, name, monkeypatch)
    return json.loads(paths.metrics_file(name).read_text())["warm"]["valid"]["ndcg@10"]


def test_every_trial_is_a_nested_run_poor_ones_are_pruned_and_the_best_reproduces_through_the_stages(
    project: TuningProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = tune_configured_model("multvae")
    client = project.client()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parent = client.get_run(result.run_id)
    trials = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    states = sorted(run.data.tags[TRIAL_STATE_TAG] for run in trials)
    assert len(trials) == result.trials == 5
    assert "PRUNED" in states and "COMPLETE" in states and result.pruned == states.count("PRUNED")
    for run in trials:
        curve = client.get_metric_history(run.info.run_id, "train/valid_ndcg_at_10")
        assert curve, "every trial logs its per-epoch validation curve"
        if run.data.tags[TRIAL_STATE_TAG] == "PRUNED":
            assert len(curve) < MULTVAE_EPOCHS and "warm/valid/ndcg_at_10" not in run.data.metrics
    trial_zero = next(run for run in trials if run.data.tags["tuning.trial"] == "0")
    assert float(trial_zero.data.params["learning_rate"]) == 0.003, "trial 0 runs the current settings"
    assert trial_zero.data.metrics["warm/valid/ndcg_at_10"] == pytest.approx(result.default_value)
    assert parent.data.metrics["best/warm/valid/ndcg_at_10"] == pytest.approx(result.best_value)
    assert result.best_value >= result.default_value
    assert result.improved, "on this data a searched setting beats the current ones"
    written = yaml.safe_load(project.params_file.read_text())["models"]["multvae"]
    assert written == {"hidden_sizes": [32], "latent_dim": 8, "batch_size": 32, "epochs": MULTVAE_EPOCHS,
                       "patience": MULTVAE_EPOCHS, "learning_rate": 0.003, **result.changes}
    assert reproduced_valid_ndcg("multvae", monkeypatch) == pytest.approx(result.best_value, abs=1e-12)


def test_a_closed_form_model_gets_the_same_budget_and_the_params_file_keeps_its_comments(
    project: TuningProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = project.params_file.read_text()
    with pytest.raises(SystemExit) as exit_status:
        recsys(["tune", "--models", "ease", "--trials", "4"])
    assert exit_status.value.code == 0
    printed = capsys.readouterr().out
    assert [line.split(":")[0] for line in printed.splitlines()[:4]] == [f"ease trial {n}/4" for n in range(1, 5)]
    best = float(printed.split("best ")[-1].split()[0])
    after = project.params_file.read_text()
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert len(changed) == 1 and changed[0].startswith("  ease: {l2: ") and "# the current EASE setting" in changed[0]
    assert "wrote models.ease: {l2: " in printed and "dvc repro train@ease evaluate@ease" in printed
    assert reproduced_valid_ndcg("ease", monkeypatch) == pytest.approx(best, abs=5e-5)  # printed to 4 decimals


def test_a_model_without_settings_runs_once_and_the_file_stays_unchanged(project: TuningProject) -> None:
    before = project.params_file.read_text()
    result = tune_configured_model("popularity")
    assert (result.trials, result.improved, result.written_to) == (1, False, None)
    assert project.params_file.read_text() == before
