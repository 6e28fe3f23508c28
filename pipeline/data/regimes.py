"""The evaluation regimes as files: warm, sparsified, cold users, cold items, leave-last-one-out.

Built once by the `split` stage from the filtered interactions, with original ids and timestamps, in a
layout documented in docs/evaluation.md so that any other library can be trained and scored on exactly
the same data. Cold users and cold items are removed from every training file, so one trained model
serves warm, cold-user and cold-item evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.data.paper_protocols import PROTOCOLS, paper_regime
from pipeline.data.schema import ITEM, TIMESTAMP, USER
from pipeline.data.splitting import leave_last_out_split, temporal_split

USERS_CATALOGUE = "users.parquet"
ITEMS_CATALOGUE = "items.parquet"
COLD_USER = "cold_user"
COLD_ITEM = "cold_item"
COLD_PART = "cold_part"  # "valid" or "test" for cold users and items, null for warm ones
COLD_PARTS = ("valid", "test")


def sparse_name(fraction: float) -> str:
    return f"sparse_{fraction:g}"


def cold_users_name(k: int) -> str:
    return f"cold_users_k{k}"


@dataclass
class RegimeSplits:
    users: pl.DataFrame  # user_id, cold_user, cold_part
    items: pl.DataFrame  # item_id, first_seen, cold_item, cold_part
    warm: dict[str, pl.DataFrame]  # train / valid / test
    sparse: dict[float, pl.DataFrame] = field(default_factory=dict)  # fraction -> thinned warm train
    cold_users: dict[int, dict[str, pl.DataFrame]] = field(default_factory=dict)  # k -> revealed / valid / test
    cold_items: dict[str, pl.DataFrame] = field(default_factory=dict)  # valid / test: warm users' interactions
    leave_last_out: dict[str, pl.DataFrame] | None = None
    paper: dict[str, dict[str, pl.DataFrame]] = field(default_factory=dict)  # protocol -> train / valid / test

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.users.write_parquet(directory / USERS_CATALOGUE)
        self.items.write_parquet(directory / ITEMS_CATALOGUE)
        _write_parts(directory / "warm", self.warm)
        for fraction, train in self.sparse.items():
            _write_parts(directory / sparse_name(fraction), {"train": train})
        for k, parts in self.cold_users.items():
            _write_parts(directory / "cold_users" / f"k{k}", parts)
        if self.cold_items:
            _write_parts(directory / "cold_items", self.cold_items)
        if self.leave_last_out is not None:
            _write_parts(directory / "loo", self.leave_last_out)
        for protocol, parts in self.paper.items():
            _write_parts(directory / paper_regime(protocol), parts)


def _write_parts(directory: Path, parts: dict[str, pl.DataFrame]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in parts.items():
        frame.write_parquet(directory / f"{name}.parquet")


def _with_cold_parts(frame: pl.DataFrame, key: str, cold: pl.Expr, valid_share: float, seed: int) -> pl.DataFrame:
    """Adds `cold_part`: a seeded `valid_share` of the rows where `cold` holds are "valid" (they tune
    cold-start settings), the other cold rows "test", warm rows null."""
    cold_keys = frame.filter(cold).select(key)
    n_valid = int(round(valid_share * cold_keys.height))
    drawn = cold_keys.sample(fraction=1.0, seed=seed, shuffle=True).with_columns(
        pl.when(pl.int_range(pl.len()) < n_valid).then(pl.lit("valid")).otherwise(pl.lit("test")).alias(COLD_PART))
    return frame.join(drawn, on=key, how="left", maintain_order="left")


def pick_cold_items(interactions: pl.DataFrame, fraction: float, valid_share: float, seed: int) -> pl.DataFrame:
    """Items with their first interaction time; the `fraction` that appear latest are cold."""
    first_seen = interactions.group_by(ITEM).agg(pl.col(TIMESTAMP).min().alias("first_seen")).sort(["first_seen", ITEM])
    n_cold = int(round(fraction * first_seen.height))
    cold = pl.int_range(pl.len()) >= pl.len() - n_cold
    return _with_cold_parts(first_seen.with_columns(cold.alias(COLD_ITEM)), ITEM, pl.col(COLD_ITEM), valid_share, seed)


def pick_cold_users(interactions: pl.DataFrame, fraction: float, valid_share: float, seed: int) -> pl.DataFrame:
    """A seeded random `fraction` of users are cold."""
    users = interactions.select(pl.col(USER).unique().sort())
    n_cold = int(round(fraction * users.height))
    cold = users.sample(n=n_cold, seed=seed, shuffle=True)[USER] if n_cold else pl.Series(USER, [], pl.String)
    flagged = users.with_columns(pl.col(USER).is_in(cold.implode()).alias(COLD_USER))
    return _with_cold_parts(flagged, USER, pl.col(COLD_USER), valid_share, seed)


def sparsify(train: pl.DataFrame, fraction: float, seed: int) -> pl.DataFrame:
    """Keep a seeded random `fraction` of each user's training interactions (at least one)."""
    keep = pl.max_horizontal(pl.lit(1), (pl.len() * fraction).ceil().cast(pl.Int64))
    shuffled = train.sort([USER, TIMESTAMP, ITEM]).with_columns(
        pl.int_range(pl.len()).shuffle(seed=seed).over(USER).alias("_draw")
    )
    return shuffled.filter(pl.col("_draw").over(USER) < keep.over(USER)).drop("_draw")


def reveal_first(history: pl.DataFrame, k: int, users: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Each cold user's first `k` interactions in time are revealed; the rest of the history is the
    validation or test target, by the user's part in `users` (user_id, cold_part)."""
    ranked = history.sort([USER, TIMESTAMP, ITEM]).with_columns(pl.int_range(pl.len()).over(USER).alias("_position"))
    rest = ranked.filter(pl.col("_position") >= k).join(users.select(USER, COLD_PART), on=USER)
    return {
        "revealed": ranked.filter(pl.col("_position") < k).drop("_position"),
        **{part: rest.filter(pl.col(COLD_PART) == part).drop("_position", COLD_PART) for part in COLD_PARTS},
    }


def cold_item_parts(interactions: pl.DataFrame, cold_items: pl.DataFrame, cold_users: pl.DataFrame
                    ) -> dict[str, pl.DataFrame]:
    """Warm users' interactions with the validation and the test cold items."""
    on_cold = interactions.join(cold_users.select(USER), on=USER, how="anti").join(cold_items, on=ITEM)
    return {part: on_cold.filter(pl.col(COLD_PART) == part).drop(COLD_PART) for part in COLD_PARTS}


def build_regimes(
    interactions: pl.DataFrame,
    *,
    valid_fraction: float,
    test_fraction: float,
    cold_user_fraction: float,
    cold_item_fraction: float,
    cold_valid_share: float,
    reveal: tuple[int, ...],
    sparsity: tuple[float, ...],
    leave_last_out: bool,
    seed: int,
    paper_protocols: tuple[str, ...] = (),
    paper_valid_fraction: float = 0.1,
) -> RegimeSplits:
    items = pick_cold_items(interactions, cold_item_fraction, cold_valid_share, seed)
    users = pick_cold_users(interactions, cold_user_fraction, cold_valid_share, seed)
    cold_items = items.filter(COLD_ITEM).select(ITEM, COLD_PART)
    cold_users = users.filter(COLD_USER).select(USER, COLD_PART)
    # Intermediates are released as soon as they are used and the whole-table leave-last-out split comes
    # last, when the fewest copies are alive: at 20M interactions this order decides the split stage's peak
    # memory (benchmarks/scale_data.py).
    on_warm_items = interactions.join(cold_items, on=ITEM, how="anti")
    cold_user_ids = cold_users.select(USER)
    cold_user_parts = (
        {k: reveal_first(on_warm_items.join(cold_user_ids, on=USER), k, cold_users) for k in reveal}
        if cold_users.height else {}
    )
    warm = temporal_split(on_warm_items.join(cold_user_ids, on=USER, how="anti"), valid_fraction, test_fraction)
    del on_warm_items
    return RegimeSplits(
        users=users,
        items=items,
        warm=warm,
        sparse={fraction: sparsify(warm["train"], fraction, seed) for fraction in sparsity},
        cold_users=cold_user_parts,
        cold_items=cold_item_parts(interactions, cold_items, cold_users) if cold_items.height else {},
        leave_last_out=leave_last_out_split(interactions) if leave_last_out else None,
        paper={protocol: PROTOCOLS[protocol].split(interactions, paper_valid_fraction, seed)
               for protocol in paper_protocols},
    )
