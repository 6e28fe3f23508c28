"""The served model's request and response: the MLflow signature (which the scoring server enforces
itself, answering HTTP 400 to wrongly typed input) and the checks a signature cannot express.

Every request row is read into plain values here, before anything is scored: ids are only ever looked
up in the model's id index, never used as a path or evaluated, and every limit below is checked so a
request cannot make the server rank or allocate without bound. A failed check raises an
`MlflowException` with error code INVALID_PARAMETER_VALUE, which the scoring server answers with HTTP
400 and the message, naming the field and the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import Array, ColSpec, DataType, Map, ParamSchema, ParamSpec, Schema

from pipeline.data.interactions import IdIndex
from pipeline.data.schema import USER

# Request columns: only `user_id` or `recent_items` is needed for a personal answer; all are optional.
K = "k"
RECENT_ITEMS = "recent_items"
ATTRIBUTES = "attributes"
EXCLUDE_ITEMS = "exclude_items"
CANDIDATE_ITEMS = "candidate_items"
ITEM_LIST_FIELDS = (RECENT_ITEMS, EXCLUDE_ITEMS, CANDIDATE_ITEMS)

# Response columns.
ITEMS_COLUMN = "item_ids"
STRATEGY_COLUMN = "strategy"
UNKNOWN_ITEMS_COLUMN = "unknown_items"
MESSAGE_COLUMN = "message"
VERSION_COLUMN = "model_version"

DEFAULT_K = 10
MAX_K = 1000
MAX_ROWS = 10_000  # request rows per call
MAX_ITEMS = 1000  # ids per item list of one row
MAX_ID_LENGTH = 256

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec(DataType.string, USER, required=False),
            # per row; when the column is sent it needs a value in every row (MLflow encodes a missing
            # integer as a float, which it refuses for a long column): else use the `k` param
            ColSpec(DataType.long, K, required=False),
            ColSpec(Array(DataType.string), RECENT_ITEMS, required=False),
            ColSpec(Map(DataType.string), ATTRIBUTES, required=False),
            ColSpec(Array(DataType.string), EXCLUDE_ITEMS, required=False),
            ColSpec(Array(DataType.string), CANDIDATE_ITEMS, required=False),
        ]
    ),
    outputs=Schema(
        [
            ColSpec(DataType.string, USER, required=False),
            ColSpec(Array(DataType.string), ITEMS_COLUMN),
            ColSpec(DataType.string, STRATEGY_COLUMN),
            ColSpec(Array(DataType.string), UNKNOWN_ITEMS_COLUMN),
            ColSpec(DataType.string, MESSAGE_COLUMN),
            ColSpec(DataType.string, VERSION_COLUMN),
        ]
    ),
    # `k` for every row of a call; a row's own `k` column wins over it.
    params=ParamSchema([ParamSpec(K, DataType.long, DEFAULT_K)]),
)


@dataclass(frozen=True)
class Request:
    """One request row in the model's index space; ids the index does not know are kept aside."""

    user_id: str | None
    user: int  # dense index, -1 when the id is absent from the index (or not given)
    k: int
    recent_items: np.ndarray  # item indices in time order, oldest first
    attributes: dict[str, str]
    exclude_items: np.ndarray
    candidate_items: np.ndarray | None  # None: every item the model knows
    unknown_items: list[str]


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def parse_requests(frame: pd.DataFrame, params: dict[str, Any] | None, index: IdIndex) -> list[Request]:
    """Check and convert every row of `frame` (the request columns above); raise `invalid` naming the
    first field that breaks a rule."""
    unexpected = sorted(set(frame.columns) - set(SIGNATURE.inputs.input_names()))
    if unexpected:
        raise invalid(f"unknown request field(s) {unexpected}; allowed: {SIGNATURE.inputs.input_names()}")
    if len(frame) > MAX_ROWS:
        raise invalid(f"a request may hold at most {MAX_ROWS} rows; got {len(frame)}")
    default_k = _k((params or {}).get(K, DEFAULT_K), f"params.{K}")
    return [_parse_row(row, position, default_k, index) for position, row in enumerate(frame.to_dict("records"))]


def _parse_row(row: dict[str, Any], position: int, default_k: int, index: IdIndex) -> Request:
    where = f"row {position}"
    user_id = row.get(USER)
    if _missing(user_id):
        user_id = None
    elif not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_ID_LENGTH:
        raise invalid(f"{where}: '{USER}' must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    k = default_k if _missing(row.get(K)) else _k(row[K], f"{where}: '{K}'")
    lists = {name: _id_list(row.get(name), f"{where}: '{name}'") for name in ITEM_LIST_FIELDS}
    indices = {name: index.item_index(ids) if ids else np.empty(0, dtype=np.int64) for name, ids in lists.items()}
    unknown = list(dict.fromkeys(i for name, ids in lists.items() for i, j in zip(ids, indices[name], strict=True)
                                 if j < 0))
    candidates = indices[CANDIDATE_ITEMS][indices[CANDIDATE_ITEMS] >= 0] if lists[CANDIDATE_ITEMS] else None
    return Request(
        user_id=user_id,
        user=int(index.user_index([user_id])[0]) if user_id is not None else -1,
        k=k,
        recent_items=indices[RECENT_ITEMS][indices[RECENT_ITEMS] >= 0],
        attributes=_attributes(row.get(ATTRIBUTES), f"{where}: '{ATTRIBUTES}'"),
        exclude_items=np.unique(indices[EXCLUDE_ITEMS][indices[EXCLUDE_ITEMS] >= 0]),
        candidate_items=np.unique(candidates) if candidates is not None else None,
        unknown_items=unknown,
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _k(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= MAX_K:
        raise invalid(f"{field} must be an integer from 1 to {MAX_K}; got {value!r}")
    return int(value)


def _id_list(value: Any, field: str) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise invalid(f"{field} must be a list of item ids; got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise invalid(f"{field} may hold at most {MAX_ITEMS} ids; got {len(value)}")
    if not all(isinstance(item, str) and 0 < len(item) <= MAX_ID_LENGTH for item in value):
        raise invalid(f"{field} must hold only non-empty strings of at most {MAX_ID_LENGTH} characters")
    return list(value)


def _attributes(value: Any, field: str) -> dict[str, str]:
    if _missing(value):
        return {}
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        raise invalid(f"{field} must be a mapping of at most {MAX_ITEMS} attribute names to string values")
    if not all(isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        raise invalid(f"{field} must map attribute names to string values")
    return dict(value)
