"""Side information aligned to the dense index: item text and categories, user attributes.

Content-aware and cold-start models read it from `Interactions.side`; collaborative models ignore it.
Items or users absent from the side tables get empty text / all-zero feature rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.data.interactions import IdIndex
from pipeline.data.schema import ITEM, USER

TEXT_COLUMNS = ("title", "description", "text")
CATEGORY_COLUMNS = ("genres", "categories", "tags")


@dataclass(frozen=True)
class ItemFeatures:
    text: list[str]  # one document per item index
    categories: sp.csr_matrix  # multi-hot [n_items, n_categories]
    category_names: list[str]


@dataclass(frozen=True)
class UserFeatures:
    attributes: sp.csr_matrix  # one-hot categorical and standardised numeric [n_users, n_attributes]
    attribute_names: list[str]


@dataclass(frozen=True)
class SideInformation:
    items: ItemFeatures | None = None
    users: UserFeatures | None = None


def build_side_information(index: IdIndex, items: pl.DataFrame | None, users: pl.DataFrame | None) -> SideInformation:
    return SideInformation(
        items=_item_features(index, items) if items is not None and not items.is_empty() else None,
        users=_user_features(index, users) if users is not None and users.width > 1 else None,
    )


def _aligned(frame: pl.DataFrame, key: str, ids: np.ndarray) -> pl.DataFrame:
    """One row per id in index order (left join keeps ids that have no side row)."""
    return pl.DataFrame({key: ids}).join(frame.unique(key, keep="first"), on=key, how="left", maintain_order="left")


def _item_features(index: IdIndex, items: pl.DataFrame) -> ItemFeatures:
    aligned = _aligned(items, ITEM, index.item_ids)
    text_columns = [c for c in TEXT_COLUMNS if c in aligned.columns]
    text = (
        aligned.select(pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in text_columns], separator=" "))
        .to_series().str.strip_chars().to_list()
        if text_columns else [""] * index.n_items
    )
    lists = [aligned[c].fill_null([]) for c in CATEGORY_COLUMNS if c in aligned.columns and aligned[c].dtype == pl.List(pl.String)]
    per_item = [sorted({v for column in lists for v in column[i]}) for i in range(index.n_items)] if lists else [[]] * index.n_items
    names = sorted({name for values in per_item for name in values})
    position = {name: j for j, name in enumerate(names)}
    rows = np.repeat(np.arange(index.n_items), [len(v) for v in per_item])
    cols = np.array([position[name] for values in per_item for name in values], dtype=np.int64)
    categories = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(index.n_items, len(names)))
    return ItemFeatures(text=text, categories=categories, category_names=names)


def _user_features(index: IdIndex, users: pl.DataFrame) -> UserFeatures:
    aligned = _aligned(users, USER, index.user_ids)
    blocks, names = [], []
    for column in aligned.columns:
        series = aligned[column]
        if column == USER:
            continue
        if series.dtype.is_numeric():
            values = series.cast(pl.Float64).to_numpy()
            mean, std = np.nanmean(values), np.nanstd(values) or 1.0
            blocks.append(sp.csr_matrix(np.nan_to_num((values - mean) / std)[:, None].astype(np.float32)))
            names.append(column)
        elif series.dtype == pl.String or series.dtype == pl.Categorical:
            levels = sorted(v for v in series.drop_nulls().unique().to_list())
            lookup = {level: j for j, level in enumerate(levels)}
            codes = np.array([lookup.get(v, -1) for v in series.to_list()])
            present = codes >= 0
            blocks.append(sp.csr_matrix((np.ones(present.sum(), dtype=np.float32), (np.flatnonzero(present), codes[present])),
                                        shape=(index.n_users, len(levels))))
            names += [f"{column}={level}" for level in levels]
    attributes = sp.hstack(blocks).tocsr() if blocks else sp.csr_matrix((index.n_users, 0), dtype=np.float32)
    return UserFeatures(attributes=attributes, attribute_names=names)
