"""Paper protocols: extra splits that reproduce one paper's evaluation, so a user can set our figures
beside its published table. They answer "do we reproduce the paper?", never "which model serves our
users best": every place they appear carries `PaperProtocol.label` and they are not comparable with
the pipeline's regimes (different split, no temporal order, ratings thrown away).

`cfgan` (Chae et al. 2018, section 4.1): each user's interactions split at random 80/20, every rating
taken as an implicit positive, full ranking, P/R/NDCG @5 and @20. The paper has no validation set;
early stopping here needs one, so a seeded share of each user's 80 % is carved out for it (never
from the 20 % test part) and the model trains on the rest. At test the whole 80 % is the known,
masked history, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipeline.data.schema import ITEM, RATING, TIMESTAMP, USER
from pipeline.data.splitting import MIN_HISTORY_TO_HOLD_OUT

PAPER_PREFIX = "paper_"


@dataclass(frozen=True)
class PaperProtocol:
    name: str
    label: str  # shown with every figure of this protocol
    published: str  # the paper's own figures to compare with
    split: Callable[[pl.DataFrame, float, int], dict[str, pl.DataFrame]]  # (interactions, valid_fraction, seed)


def cfgan_split(interactions: pl.DataFrame, valid_fraction: float, seed: int,
                test_fraction: float = 0.2) -> dict[str, pl.DataFrame]:
    """Per user, a seeded random round(test_fraction * n) (at least one) to test, then a seeded
    round(valid_fraction * rest) (at least one) of the rest to valid; ratings become implicit (null).
    Users with fewer than three interactions stay in train, as in every other split."""
    shuffled = interactions.sort([USER, TIMESTAMP, ITEM]).with_columns(
        pl.lit(None, dtype=interactions.schema[RATING]).alias(RATING),
        pl.int_range(pl.len()).shuffle(seed=seed).over(USER).alias("_draw"),
        pl.len().over(USER).alias("_n"),
    )
    n, draw = pl.col("_n"), pl.col("_draw")
    n_test = pl.max_horizontal(pl.lit(1), (n * test_fraction).round().cast(pl.Int64))
    n_valid = pl.max_horizontal(pl.lit(1), ((n - n_test) * valid_fraction).round().cast(pl.Int64))
    held_out = n >= MIN_HISTORY_TO_HOLD_OUT
    part = (
        pl.when(held_out & (draw < n_test)).then(pl.lit("test"))
        .when(held_out & (draw < n_test + n_valid)).then(pl.lit("valid"))
        .otherwise(pl.lit("train"))
    )
    labelled = shuffled.with_columns(part.alias("_part")).drop("_draw", "_n")
    return {name: labelled.filter(pl.col("_part") == name).drop("_part") for name in ("train", "valid", "test")}


PROTOCOLS = {
    "cfgan": PaperProtocol(
        name="cfgan",
        label="CFGAN PAPER protocol (random 80/20 per user, all ratings implicit, full ranking; "
              "for comparison with Chae et al. 2018 only, not with the pipeline's regimes)",
        published="CFGAN on ML-100K (Chae et al. 2018, Table 3): P@20 0.294, NDCG@20 0.433",
        split=cfgan_split,
    ),
}
PAPER_METRICS = ("precision@5", "recall@5", "ndcg@5", "precision@20", "recall@20", "ndcg@20")


def paper_regime(protocol: str) -> str:
    """The regime (and training variant, and split folder) name of a paper protocol."""
    return PAPER_PREFIX + protocol


def protocol_of(regime: str) -> PaperProtocol | None:
    """The paper protocol a regime name stands for; None for the pipeline's own regimes."""
    return PROTOCOLS.get(regime.removeprefix(PAPER_PREFIX)) if regime.startswith(PAPER_PREFIX) else None

