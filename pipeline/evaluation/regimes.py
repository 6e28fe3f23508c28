"""Which model variant is trained on what, and which evaluation sets each regime scores.

Variants (one training each): `warm` (serves warm, cold users and cold items), `sparse_<f>` (warm
training thinned to fraction f), `loo` (leave-last-one-out), and `paper_<protocol>` when a paper
protocol is switched on (split.paper_protocols; scored on its own parts, always labelled). All share one index over the whole
filtered catalogue, so a model trained on warm users can be asked about cold users and cold items.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.data.features import SideInformation, build_side_information
from pipeline.data.interactions import IdIndex, Interactions
from pipeline.data.paper_protocols import PAPER_PREFIX
from pipeline.data.regimes import COLD_ITEM, COLD_PART, COLD_PARTS, ITEMS_CATALOGUE, USERS_CATALOGUE, cold_users_name
from pipeline.data.schema import ITEM, USER
from pipeline.evaluation.protocol import EvaluationSet

WARM = "warm"
LOO = "loo"
COLD_ITEMS = "cold_items"


@dataclass(frozen=True)
class TrainingSet:
    train: Interactions
    valid: Interactions


@dataclass(frozen=True)
class ColdUserRegime:
    """One reveal size k: the cold users to fold in, what is known about everyone (warm train +
    validation and the revealed items), and the validation and test parts (disjoint cold users)."""

    users: np.ndarray
    history: Interactions
    parts: dict[str, EvaluationSet]


@dataclass(frozen=True)
class RegimeData:
    index: IdIndex
    side: SideInformation | None
    warm: dict[str, Interactions]
    sparse: dict[str, Interactions]  # variant name -> thinned training set
    cold_users: dict[int, dict[str, Interactions]]  # k -> revealed / valid / test
    cold_item_targets: dict[str, Interactions]  # valid / test: warm users' interactions with cold items
    cold_items: np.ndarray  # item indices
    cold_item_parts: dict[str, np.ndarray]  # valid / test -> the cold items ranked in that part
    warm_items: np.ndarray  # item indices that warm and cold-user rankings may recommend
    leave_last_out: dict[str, Interactions] | None
    paper: dict[str, dict[str, Interactions]]  # regime name (paper_<protocol>) -> train / valid / test

    @classmethod
    def load(cls, directory: Path, items: pl.DataFrame | None = None, users: pl.DataFrame | None = None) -> RegimeData:
        catalogue_users = pl.read_parquet(directory / USERS_CATALOGUE)
        catalogue_items = pl.read_parquet(directory / ITEMS_CATALOGUE)
        index = IdIndex(user_ids=np.sort(catalogue_users[USER].to_numpy().astype(str)),
                        item_ids=np.sort(catalogue_items[ITEM].to_numpy().astype(str)))
        side = build_side_information(index, items, users) if items is not None or users is not None else None

        def read(path: Path) -> Interactions:
            return Interactions.from_frame(pl.read_parquet(path), index, side)

        def read_parts(folder: Path) -> dict[str, Interactions]:
            return {path.stem: read(path) for path in sorted(folder.glob("*.parquet"))}

        cold = index.item_index(catalogue_items.filter(COLD_ITEM)[ITEM].to_numpy())
        cold_item_parts = {part: np.sort(index.item_index(catalogue_items.filter(pl.col(COLD_PART) == part)[ITEM].to_numpy()))
                           for part in COLD_PARTS}
        cold_user_dirs = sorted((directory / "cold_users").glob("k*")) if (directory / "cold_users").exists() else []
        return cls(
            index=index,
            side=side,
            warm=read_parts(directory / WARM),
            sparse={path.name: read(path / "train.parquet") for path in sorted(directory.glob("sparse_*"))},
            cold_users={int(path.name[1:]): read_parts(path) for path in cold_user_dirs},
            cold_item_targets=read_parts(directory / COLD_ITEMS) if (directory / COLD_ITEMS).exists() else {},
            cold_items=np.sort(cold),
            cold_item_parts=cold_item_parts,
            warm_items=np.setdiff1d(np.arange(index.n_items), cold),
            leave_last_out=read_parts(directory / LOO) if (directory / LOO).exists() else None,
            paper={path.name: read_parts(path) for path in sorted(directory.glob(PAPER_PREFIX + "*"))},
        )

    def training_sets(self) -> dict[str, TrainingSet]:
        """Every variant a model is trained on; validation is always the warm users' validation part."""
        sets = {WARM: TrainingSet(self.warm["train"], self.warm["valid"])}
        sets.update({name: TrainingSet(train, self.warm["valid"]) for name, train in self.sparse.items()})
        if self.leave_last_out is not None:
            sets[LOO] = TrainingSet(self.leave_last_out["train"], self.leave_last_out["valid"])
        sets.update({name: TrainingSet(parts["train"], parts["valid"]) for name, parts in self.paper.items()})
        return sets

    def warm_like_sets(self, variant: str) -> dict[str, EvaluationSet]:
        """valid: training history known and masked; test: training + validation known and masked."""
        if variant == LOO or variant in self.paper:
            parts, candidates = self.leave_last_out if variant == LOO else self.paper[variant], None
            train = parts["train"]
        else:
            parts, candidates = self.warm, self.warm_items
            train = self.sparse.get(variant, self.warm["train"])
        return {
            "valid": EvaluationSet(history=train, targets=parts["valid"], candidates=candidates),
            "test": EvaluationSet(history=train.concat(parts["valid"]), targets=parts["test"], candidates=candidates),
        }

    def cold_user_sets(self) -> dict[str, ColdUserRegime]:
        """Per k (by regime name): the cold users, the shared history and the non-empty parts."""
        known = self.warm["train"].concat(self.warm["valid"])
        out = {}
        for k, parts in sorted(self.cold_users.items()):
            history = known.concat(parts["revealed"])
            out[cold_users_name(k)] = ColdUserRegime(np.unique(parts["revealed"].users), history, {
                part: EvaluationSet(history=history, targets=parts[part], candidates=self.warm_items)
                for part in COLD_PARTS if len(parts.get(part, ())) > 0
            })
        return out

    def cold_item_sets(self) -> dict[str, EvaluationSet]:
        """Warm users' interactions with the validation and the test cold items, each ranked among the
        cold items of its own part."""
        known = self.warm["train"].concat(self.warm["valid"])
        return {
            part: EvaluationSet(history=known, targets=targets, candidates=self.cold_item_parts[part])
            for part, targets in self.cold_item_targets.items() if len(targets) > 0
        }
