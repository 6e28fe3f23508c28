"""The served form of a trained recommender: original user ids in, top-K original item ids out.

Logged as an MLflow "model from code" (serving_model.py), so no object of ours is ever pickled: the
model travels as its own safe files (JSON config + state_dict loaded with `weights_only=True`) and the
`pipeline` package travels as code. The known history (train + validation interactions) travels as
Parquet, because history-based models score from it and known items must never be recommended again.
Ranking and masking are the shared `top_k`; users the history has never seen get the most popular
items, labelled as such.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import Array, ColSpec, DataType, Schema

import pipeline
from pipeline import paths
from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions
from pipeline.data.schema import ITEM, TIMESTAMP, USER
from pipeline.evaluation.ranking import top_k
from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model, load_model
from pipeline.training.device import resolve_device

MODEL_ARTIFACT = "model"
HISTORY_ARTIFACT = "history"
# Item/user side tables travel too: content-aware models score new items from their features.
SIDE_ARTIFACTS = {"items": paths.ITEMS_FILE, "users": paths.USERS_FILE}
SERVING_CODE = Path(__file__).with_name("serving_model.py")
LOGGED_MODEL_NAME = "model"

K_COLUMN = "k"
DEFAULT_K = 10
ITEMS_COLUMN = "item_ids"
STRATEGY_COLUMN = "strategy"
PERSONALISED = "personalised"
POPULAR_FALLBACK = "popular-fallback"

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(DataType.string, USER), ColSpec(DataType.long, K_COLUMN, required=False)]),
    outputs=Schema(
        [
            ColSpec(DataType.string, USER),
            ColSpec(Array(DataType.string), ITEMS_COLUMN),
            ColSpec(DataType.string, STRATEGY_COLUMN),
        ]
    ),
)
# What `pipeline` imports at serving time; local version labels (+cpu, +cu121) are not on PyPI.
SERVING_DISTRIBUTIONS = ("mlflow", "torch", "numpy", "scipy", "polars", "pandas", "pydantic")


class TopKRecommender(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: `predict` takes a DataFrame with `user_id` and optionally `k` (default 10; when
    given, for every row: the signature types it as a long, so a missing value is refused) and returns
    one row per input row: `user_id`, `item_ids` (best first) and `strategy`."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        directory = Path(context.artifacts[MODEL_ARTIFACT])
        self.model = load_model(directory, resolve_device("auto"))
        self.index = IdIndex.load(directory)
        side_tables = {name: pl.read_parquet(context.artifacts[name]) for name in SIDE_ARTIFACTS if name in context.artifacts}
        side = build_side_information(self.index, side_tables.get("items"), side_tables.get("users")) if side_tables else None
        history = pl.read_parquet(context.artifacts[HISTORY_ARTIFACT])
        self.history = Interactions.from_frame(history, self.index, side)
        self.has_history = np.diff(self.history.csr.indptr) > 0
        # The fallback ranking is the popularity baseline through the same top_k, computed once.
        popularity = create_model("popularity", {}, self.index.n_users, self.index.n_items, "cpu", seed=0)
        popularity.fit(self.history)
        nobody = np.zeros(1, dtype=np.int64)
        no_known_items = sp.csr_matrix((1, self.index.n_items), dtype=np.float32)
        self.popular_items = top_k(
            popularity, nobody, ScoringContext(self.history), no_known_items, self.index.n_items
        )[0]

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if USER not in model_input.columns:
            raise ValueError(f"the input needs a '{USER}' column; got columns {list(model_input.columns)}")
        user_ids = model_input[USER].astype(str).to_numpy()
        ks = (
            model_input[K_COLUMN].astype(np.int64).to_numpy()
            if K_COLUMN in model_input.columns
            else np.full(len(user_ids), DEFAULT_K, dtype=np.int64)
        )
        if (ks < 1).any():
            raise ValueError(f"'{K_COLUMN}' must be at least 1; got {ks.min()}")
        users = self.index.user_index(user_ids)
        known = users >= 0
        known[known] = self.has_history[users[known]]
        ranked = iter(
            top_k(self.model, users[known], ScoringContext(self.history), self.history.csr, int(ks.max(initial=1)))
        )
        items = [
            self.index.item_ids[(next(ranked) if is_known else self.popular_items)[:k]].tolist()
            for is_known, k in zip(known, ks, strict=True)
        ]
        return pd.DataFrame(
            {
                USER: user_ids,
                ITEMS_COLUMN: items,
                STRATEGY_COLUMN: np.where(known, PERSONALISED, POPULAR_FALLBACK),
            }
        )


def serving_requirements() -> list[str]:
    return [f"{name}=={version(name).split('+')[0]}" for name in SERVING_DISTRIBUTIONS]


def log_pyfunc(model_dir: Path, history: pl.DataFrame) -> ModelInfo:
    """Log the model in `model_dir` as a pyfunc in the active run, knowing `history` (original ids)."""
    index = IdIndex.load(model_dir)
    Interactions.from_frame(history, index)  # fail here, not at serving time, when ids do not match
    example_user = history[USER][0] if len(history) else "unknown-user"
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
            input_example=pd.DataFrame({USER: [example_user], K_COLUMN: [DEFAULT_K]}),
            pip_requirements=serving_requirements(),
        )
