"""The served form of a trained recommender: MLflow pyfunc over `ServedRecommender` (serving.py),
with the request schema of requests.py.

Logged as an MLflow "model from code" (serving_model.py), so no object of ours is ever pickled: the
model travels as its own safe files (JSON config + state_dict loaded with `weights_only=True`) and the
`pipeline` package travels as code. The known history (train + validation interactions) travels as
Parquet, because history-based models score from it, new users are folded in against it and known
items must never be recommended again; the item/user side tables travel too, for content-aware models.
"""

from __future__ import annotations

import logging
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME, ModelInfo

import pipeline
from pipeline import paths
from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions
from pipeline.data.schema import ITEM, TIMESTAMP, USER
from pipeline.models.registry import load_model
from pipeline.registry.requests import (
    DEFAULT_K,
    ITEMS_COLUMN,
    MESSAGE_COLUMN,
    RECENT_ITEMS,
    SIGNATURE,
    STRATEGY_COLUMN,
    UNKNOWN_ITEMS_COLUMN,
    VERSION_COLUMN,
    K,
    parse_requests,
)
from pipeline.registry.serving import ServedRecommender
from pipeline.training.device import resolve_device

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
HISTORY_ARTIFACT = "history"
SIDE_ARTIFACTS = {"items": paths.ITEMS_FILE, "users": paths.USERS_FILE}
SERVING_CODE = Path(__file__).with_name("serving_model.py")
LOGGED_MODEL_NAME = "model"
UNREGISTERED = "unregistered"

# What `pipeline` imports at serving time; local version labels (+cpu, +cu121) are not on PyPI.
SERVING_DISTRIBUTIONS = ("mlflow", "torch", "numpy", "scipy", "polars", "pandas", "pydantic", "scikit-learn")


class TopKRecommender(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: `predict` takes one request per DataFrame row (columns in requests.py, all
    optional) and returns one response row per request: `user_id`, `item_ids` (best first), `strategy`
    (the path that served it, see serving.py), `unknown_items`, `message` and `model_version`."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        directory = Path(context.artifacts[MODEL_ARTIFACT])
        index = IdIndex.load(directory)
        tables = {name: pl.read_parquet(context.artifacts[name]) for name in SIDE_ARTIFACTS if name in context.artifacts}
        side = build_side_information(index, tables.get("items"), tables.get("users")) if tables else None
        history = Interactions.from_frame(pl.read_parquet(context.artifacts[HISTORY_ARTIFACT]), index, side)
        self.served = ServedRecommender(load_model(directory, resolve_device("auto")), index, history,
                                        tables.get("users"))
        self.model_version = registered_version(directory)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        requests = parse_requests(model_input, params, self.served.index)
        answers = self.served.recommend(requests)
        item_ids = self.served.index.item_ids
        return pd.DataFrame(
            {
                USER: [request.user_id for request in requests],
                ITEMS_COLUMN: [item_ids[answer.items].tolist() for answer in answers],
                STRATEGY_COLUMN: [answer.strategy for answer in answers],
                UNKNOWN_ITEMS_COLUMN: [request.unknown_items for request in requests],
                MESSAGE_COLUMN: [answer.message for answer in answers],
                VERSION_COLUMN: self.model_version,
            }
        )


def registered_version(artifact_dir: Path) -> str:
    """`<registered model>/<version>` of the logged model that `artifact_dir` belongs to, looked up at
    load time in the tracking store the scoring process points at (`mlflow models serve -m models:/...`
    sets it); `unregistered:<logged model id>` when no version holds it or the store cannot be reached."""
    root = next(parent for parent in artifact_dir.parents if (parent / MLMODEL_FILE_NAME).exists())
    logged = Model.load(root)
    try:
        versions = MlflowClient().search_model_versions(f"run_id = '{logged.run_id}'") if logged.run_id else []
    except MlflowException as error:
        log.warning("cannot look up the registered version of this model: %s", error)
        versions = []
    # a version's `source` is the logged model's URI, `models:/<model id>` (its `model_id` may be unset)
    match = [v for v in versions if logged.model_id in (v.model_id, v.source.removeprefix("models:/"))]
    return f"{match[0].name}/{match[0].version}" if match else f"{UNREGISTERED}:{logged.model_id}"


def serving_requirements() -> list[str]:
    return [f"{name}=={version(name).split('+')[0]}" for name in SERVING_DISTRIBUTIONS]


def log_pyfunc(model_dir: Path, history: pl.DataFrame) -> ModelInfo:
    """Log the model in `model_dir` as a pyfunc in the active run, knowing `history` (original ids)."""
    index = IdIndex.load(model_dir)
    Interactions.from_frame(history, index)  # fail here, not at serving time, when ids do not match
    example = history.sort(TIMESTAMP).head(2)[ITEM].to_list()
    with tempfile.TemporaryDirectory() as scratch:
        history_file = Path(scratch) / "history.parquet"
        history.select(USER, ITEM, TIMESTAMP).write_parquet(history_file)
        return mlflow.pyfunc.log_model(
            name=LOGGED_MODEL_NAME,
            python_model=str(SERVING_CODE),
            artifacts={
                MODEL_ARTIFACT: str(model_dir),
                HISTORY_ARTIFACT: str(history_file),
                **{name: str(path) for name, path in SIDE_ARTIFACTS.items() if path.exists()},
            },
            code_paths=[str(Path(pipeline.__file__).parent)],
            signature=SIGNATURE,
            input_example=(pd.DataFrame({RECENT_ITEMS: [example]}), {K: DEFAULT_K}),
            pip_requirements=serving_requirements(),
        )
