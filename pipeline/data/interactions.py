"""Dense integer indices for users and items, assigned in exactly one place, and the in-memory form
of a split that every model trains on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.data.schema import ITEM, RATING, TIMESTAMP, USER

if TYPE_CHECKING:
    from pipeline.data.features import SideInformation

SPLIT_PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class IdIndex:
    """Bijection between original ids (strings) and dense indices 0..n-1 (sorted original ids)."""

    user_ids: np.ndarray
    item_ids: np.ndarray

    @classmethod
    def from_frames(cls, *frames: pl.DataFrame) -> IdIndex:
        users = pl.concat([f.select(USER) for f in frames]).unique().sort(USER)[USER].to_numpy()
        items = pl.concat([f.select(ITEM) for f in frames]).unique().sort(ITEM)[ITEM].to_numpy()
        return cls(user_ids=users.astype(str), item_ids=items.astype(str))

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, ids: np.ndarray | list[str]) -> np.ndarray:
        """Dense index per original user id; -1 where the id is unknown."""
        return _lookup(self.user_ids, np.asarray(ids, dtype=str))

    def item_index(self, ids: np.ndarray | list[str]) -> np.ndarray:
        return _lookup(self.item_ids, np.asarray(ids, dtype=str))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({USER: self.user_ids}).write_parquet(directory / "users_index.parquet")
        pl.DataFrame({ITEM: self.item_ids}).write_parquet(directory / "items_index.parquet")

    @classmethod
    def load(cls, directory: Path) -> IdIndex:
        users = pl.read_parquet(directory / "users_index.parquet")[USER].to_numpy().astype(str)
        items = pl.read_parquet(directory / "items_index.parquet")[ITEM].to_numpy().astype(str)
        return cls(user_ids=users, item_ids=items)


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    position = np.searchsorted(sorted_ids, ids)
    position = np.clip(position, 0, max(len(sorted_ids) - 1, 0))
    found = len(sorted_ids) > 0 and sorted_ids[position] == ids
    return np.where(found, position, -1).astype(np.int64)


@dataclass(frozen=True)
class Interactions:
    """One set of interactions in dense index space. Arrays are aligned, one entry per interaction."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    ratings: np.ndarray  # NaN where the feedback is implicit
    n_users: int
    n_items: int
    side: SideInformation | None = None  # item text/categories, user attributes (shared by every part)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, index: IdIndex, side: SideInformation | None = None) -> Interactions:
        users = index.user_index(frame[USER].to_numpy())
        items = index.item_index(frame[ITEM].to_numpy())
        if (users < 0).any() or (items < 0).any():
            raise ValueError("interactions reference ids missing from the index; build the index from every part")
        ratings = frame[RATING].cast(pl.Float32).fill_null(np.nan).to_numpy() if RATING in frame.columns else None
        return cls(
            users=users,
            items=items,
            timestamps=frame[TIMESTAMP].to_numpy().astype(np.int64),
            ratings=ratings if ratings is not None else np.full(len(users), np.nan, dtype=np.float32),
            n_users=index.n_users,
            n_items=index.n_items,
            side=side,
        )

    def __len__(self) -> int:
        return len(self.users)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Binary user x item matrix; repeated interactions count once."""
        matrix = sp.csr_matrix(
            (np.ones(len(self.users), dtype=np.float32), (self.users, self.items)),
            shape=(self.n_users, self.n_items),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    @cached_property
    def time_order(self) -> np.ndarray:
        """Positions of the interactions sorted by (user, timestamp, item): each user's history in time order."""
        return np.lexsort((self.items, self.timestamps, self.users))

    @cached_property
    def user_offsets(self) -> np.ndarray:
        """Start of each user's run in `time_order` (length n_users + 1)."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.users, minlength=self.n_users))])

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Number of distinct users per item (popularity)."""
        return np.asarray(self.csr.sum(axis=0)).ravel()

    def concat(self, other: Interactions) -> Interactions:
        return Interactions(
            users=np.concatenate([self.users, other.users]),
            items=np.concatenate([self.items, other.items]),
            timestamps=np.concatenate([self.timestamps, other.timestamps]),
            ratings=np.concatenate([self.ratings, other.ratings]),
            n_users=self.n_users,
            n_items=self.n_items,
            side=self.side,
        )

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where `mask` is True, on the same index."""
        return Interactions(self.users[mask], self.items[mask], self.timestamps[mask], self.ratings[mask],
                            self.n_users, self.n_items, self.side)


@dataclass(frozen=True)
class SplitData:
    """A regime's train/valid/test parts over one shared index."""

    index: IdIndex
    train: Interactions
    valid: Interactions
    test: Interactions

    @classmethod
    def load(cls, directory: Path, items: pl.DataFrame | None = None, users: pl.DataFrame | None = None) -> SplitData:
        """Read a regime's parts; with item/user tables, attach their features as side information."""
        from pipeline.data.features import build_side_information

        frames = {part: pl.read_parquet(directory / f"{part}.parquet") for part in SPLIT_PARTS}
        index = IdIndex.from_frames(*frames.values())
        side = build_side_information(index, items, users) if items is not None or users is not None else None
        parts = {part: Interactions.from_frame(frame, index, side) for part, frame in frames.items()}
        return cls(index=index, **parts)
