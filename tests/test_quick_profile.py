"""The quick profile (`recsys run --quick`): which models it keeps, and that DVC accepts its overrides on
the real params.yaml (with DVC's own override parser, as `dvc exp run -S` applies them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from dvc.utils.hydra import apply_overrides

from pipeline.cli import QUICK_MODELS, quick_profile
from pipeline.config import load_params
from pipeline.models.registry import MODEL_CLASSES
from tests.conftest import REPO_ROOT


def test_quick_profile_keeps_only_its_models_and_shortens_the_deep_ones() -> None:
    overrides = quick_profile(["ease", "gru4rec", "sasrec", "my_alias"])
    assert "~models.sasrec" in overrides and "~models.my_alias" in overrides
    assert not any(o.startswith("~models.ease") or o.startswith("~models.gru4rec") for o in overrides)
    assert "++models.gru4rec.epochs=3" in overrides
    assert not any("models.bpr." in o for o in overrides), "a model that is not configured is not set"
    assert "split.leave_last_out=false" in overrides


def test_dvc_applies_the_quick_profile_to_the_default_params(tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    shutil.copy(REPO_ROOT / "params.yaml", params_file)
    configured = list(yaml.safe_load(params_file.read_text())["models"])
    apply_overrides(str(params_file), quick_profile(configured))
    quick = load_params(params_file)
    assert set(quick.models) == set(QUICK_MODELS)
    assert quick.models["multvae"]["epochs"] == 10, "a setting params.yaml did not have is added"
    assert quick.models["multvae"]["learning_rate"] == 0.003, "the other settings stay"
    assert quick.split.sparsity == (0.5,) and not quick.split.leave_last_out
    for name in QUICK_MODELS:
        assert name in MODEL_CLASSES
