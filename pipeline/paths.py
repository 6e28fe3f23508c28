"""Where every stage reads and writes: the file contracts of DESIGN.md section 3, in one place."""

from __future__ import annotations

from pathlib import Path

RAW_DIR = Path("data/raw")
PROCESSED_DIR = Path("data/processed")
SPLITS_DIR = Path("data/splits")
MODELS_DIR = Path("models")
CHECKPOINTS_DIR = Path("checkpoints")
METRICS_DIR = Path("metrics")
REPORTS_DIR = Path("reports")
PARAMS_FILE = Path("params.yaml")

INTERACTIONS_FILE = PROCESSED_DIR / "interactions.parquet"
ITEMS_FILE = PROCESSED_DIR / "items.parquet"
USERS_FILE = PROCESSED_DIR / "users.parquet"

VALIDATION_DIR = REPORTS_DIR / "validation"
VALIDATION_GATE = VALIDATION_DIR / "gate.json"
LEADERBOARD_MD = REPORTS_DIR / "leaderboard.md"
LEADERBOARD_CSV = REPORTS_DIR / "leaderboard.csv"  # the warm regime's, used for promotion
LEADERBOARD_DIR = REPORTS_DIR / "leaderboards"  # one CSV per regime
TOPK_DIR = REPORTS_DIR / "topk"
PROMOTION_FILE = REPORTS_DIR / "promotion.json"
DATASET_STATS = REPORTS_DIR / "dataset.json"
PER_USER_DIR = REPORTS_DIR / "per_user"
PER_ITEM_DIR = REPORTS_DIR / "per_item"  # leave-one-item-out figures where few items are ranked (cold items)
PLOTS_DIR = REPORTS_DIR / "plots"
TIMINGS_DIR = REPORTS_DIR / "timings"


def split_dir(regime: str) -> Path:
    return SPLITS_DIR / regime


def model_dir(model_name: str, variant: str | None = None) -> Path:
    """A model's folder; each trained variant (warm, sparse_<f>, loo) is a loadable model below it."""
    return MODELS_DIR / model_name if variant is None else MODELS_DIR / model_name / variant


def checkpoint_dir(model_name: str, variant: str) -> Path:
    return CHECKPOINTS_DIR / model_name / variant


def metrics_file(model_name: str) -> Path:
    return METRICS_DIR / f"{model_name}.json"
