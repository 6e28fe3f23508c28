"""A tiny but real project for the registry tests: a synthetic warm split, popularity and EASE trained
on it and saved as the train stage would, metrics files whose values each test chooses, and a real
MLflow SQLite tracking store with its artifacts, all under a temporary directory.

As on a real split, the index also holds held-out users (COLD_USERS, interactions only in test: the
rows serving lends to new users) and new items with text but no training interaction (NEW_ITEMS), and
a content model (CONTENT, trained but not in MODELS) can rank those new items."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from pipeline import paths
from pipeline.data.interactions import SplitData
from pipeline.data.splitting import leave_last_out_split
from pipeline.models.registry import create_model
from pipeline.stages import register
from pipeline.stages.train import TRAINING_FILE

MODELS = {"popularity": {}, "ease": {"l2": 10.0}}
CONTENT = {"content": {}}
MODEL_NAME = "recommender"
COLD_USERS = [f"u{user}" for user in range(40, 44)]
NEW_ITEMS = [f"i{item}" for item in range(30, 34)]  # i30, i31 in group 0's genre, i32, i33 in group 1's
GENRES = ("space opera starship", "romantic comedy wedding")


def interaction_rows(users: range, rng: np.random.Generator, extra_items: int = 0) -> list[tuple]:
    """Eight interactions per user, within the user's group (user % 2), plus `extra_items` new items."""
    rows = []
    for user in users:
        group = user % 2
        items = [f"i{item:02d}" for item in rng.choice(np.arange(group * 15, group * 15 + 15), size=8, replace=False)]
        items += NEW_ITEMS[2 * group : 2 * group + extra_items]
        rows += [(f"u{user:02d}", item, 4.0, 1_000_000 + 100 * user + t) for t, item in enumerate(items)]
    return rows


def write_warm_split(root: Path) -> None:
    """Two user groups with disjoint tastes, split leave-last-out; the cold users' interactions (new
    items among them) only in test; item titles naming each group's genre."""
    rng = np.random.default_rng(0)
    schema = ["user_id", "item_id", "rating", "timestamp"]
    frame = pl.DataFrame(interaction_rows(range(40), rng), schema=schema, orient="row")
    cold = pl.DataFrame(interaction_rows(range(40, 44), rng, extra_items=2), schema=schema, orient="row")
    directory = root / paths.split_dir("warm")
    directory.mkdir(parents=True)
    parts = leave_last_out_split(frame)
    parts["test"] = pl.concat([parts["test"], cold])
    for part, interactions in parts.items():
        interactions.write_parquet(directory / f"{part}.parquet")
    items = [f"i{item:02d}" for item in range(34)]
    titles = [f"{GENRES[(item // 15) % 2 if item < 30 else (item - 30) // 2]} {item}" for item in range(34)]
    (root / paths.PROCESSED_DIR).mkdir(parents=True)
    pl.DataFrame({"item_id": items, "title": titles}).write_parquet(root / paths.ITEMS_FILE)


def train_models(root: Path) -> None:
    split = SplitData.load(root / paths.split_dir("warm"), items=pl.read_parquet(root / paths.ITEMS_FILE))
    for name, params in {**MODELS, **CONTENT}.items():
        model = create_model(name, params, split.index.n_users, split.index.n_items, "cpu", seed=7)
        model.fit(split.train, split.valid)
        directory = root / paths.model_dir(name, "warm")
        model.save(directory)
        split.index.save(directory)
        log = [{"epoch": 1, "loss": 0.9, "valid_ndcg@10": 0.1}, {"epoch": 2, "loss": 0.5, "valid_ndcg@10": 0.2}]
        training = {"seconds": 0.01, "device": "cpu", "log": log if name == "ease" else []}
        (directory / TRAINING_FILE).write_text(json.dumps(training), encoding="utf-8")


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root}/mlflow.db"

    def write_params(self, require_approval: bool = False, promotion: dict | None = None) -> None:
        """params.yaml; `promotion` overrides registry.promotion (the policy)."""
        registry = {"experiment": "tests", "model_name": MODEL_NAME, "require_approval": require_approval}
        params = {"seed": 7, "models": MODELS, "registry": registry | ({"promotion": promotion} if promotion else {})}
        (self.root / paths.PARAMS_FILE).write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    def write_metrics(self, **valid_ndcg: float) -> None:
        """metrics/<model>.json as the evaluate stage writes them, with chosen validation NDCG@10."""
        for name, value in valid_ndcg.items():
            splits = {
                "valid": {"ndcg@10": value, "recall@10": value + 0.1},
                "test": {"ndcg@10": value - 0.01, "recall@10": value + 0.05},
            }
            path = self.root / paths.metrics_file(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"model": name, "train_seconds": 0.01, "warm": splits}), encoding="utf-8")
            self.write_per_user(name, splits)

    def write_per_user(self, name: str, splits: dict[str, dict[str, float]]) -> None:
        """reports/per_user/<model>.parquet for the warm parts, spread around the metrics file's means (the
        offsets sum to zero), so the paired test of two rounds sees every user move by the gap in means."""
        frames = []
        for part, metrics in splits.items():
            users = pl.read_parquet(self.root / paths.split_dir("warm") / f"{part}.parquet")["user_id"].unique().sort()
            offsets = np.linspace(-0.05, 0.05, len(users))
            frames.append(pl.DataFrame({"regime": "warm", "part": part, "user_id": users,
                                        **{metric: metrics[metric] + offsets for metric in ("ndcg@10", "recall@10")}}))
        path = self.root / paths.PER_USER_DIR / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pl.concat(frames).write_parquet(path)

    def register(self) -> dict:
        """Run the register stage here, as `dvc repro` would; return reports/promotion.json."""
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            patch.setenv("MLFLOW_TRACKING_URI", self.uri)
            register.main()
        return json.loads((self.root / paths.PROMOTION_FILE).read_text(encoding="utf-8"))

    def client(self) -> MlflowClient:
        """A client of this project's store, also made the global one that `models:/` URIs resolve against."""
        mlflow.set_tracking_uri(self.uri)
        return MlflowClient(self.uri)

    def aliases(self) -> dict[str, str]:
        return {alias: str(v) for alias, v in self.client().get_registered_model(MODEL_NAME).aliases.items()}


def new_project(root: Path, empty_store: Path, require_approval: bool = False) -> Project:
    shutil.copyfile(empty_store, root / "mlflow.db")
    write_warm_split(root)
    train_models(root)
    project = Project(root)
    project.write_params(require_approval)
    return project


@pytest.fixture
def project(tmp_path: Path, empty_store: Path) -> Project:
    """A fresh project, not registered yet (metrics still to be written)."""
    return new_project(tmp_path, empty_store)


@pytest.fixture(scope="package")
def registered(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Iterator[tuple[Project, dict]]:
    """One registration round (EASE better than popularity), shared read-only by the registry tests."""
    project = new_project(tmp_path_factory.mktemp("registered"), empty_store)
    project.write_metrics(popularity=0.1, ease=0.3)
    yield project, project.register()
