"""The quick profile (`recsys run --quick`): which models it keeps and what DVC receives."""

from __future__ import annotations

import yaml

from pipeline.cli import QUICK_MODELS, quick_profile
from pipeline.models.registry import MODEL_CLASSES
from tests.conftest import REPO_ROOT


def test_quick_profile_keeps_only_its_models_and_shortens_the_deep_ones() -> None:
    overrides = quick_profile(["ease", "gru4rec", "sasrec", "my_alias"])
    assert "~models.sasrec" in overrides and "~models.my_alias" in overrides
    assert not any(o.startswith("~models.ease") or o.startswith("~models.gru4rec") for o in overrides)
    assert "models.gru4rec.epochs=3" in overrides
    assert not any(o.startswith("models.bpr.") for o in overrides), "a model that is not configured is not set"
    assert "split.leave_last_out=false" in overrides


def test_quick_models_are_real_models_configured_by_default() -> None:
    configured = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["models"]
    for name in QUICK_MODELS:
        assert name in MODEL_CLASSES and name in configured
