"""Stage `split`: k-core filtering of the validated data, then every evaluation regime's files."""

from __future__ import annotations

import json
import logging

import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.filtering import prepare
from pipeline.data.regimes import build_regimes
from pipeline.data.schema import ITEM, USER
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)


def describe(frame: pl.DataFrame) -> dict[str, int]:
    return {"interactions": frame.height, "users": frame[USER].n_unique(), "items": frame[ITEM].n_unique()}


def main() -> None:
    params = load_params()
    interactions = prepare(pl.scan_parquet(paths.INTERACTIONS_FILE), params.data)
    split = params.split
    regimes = build_regimes(
        interactions,
        valid_fraction=split.valid_fraction,
        test_fraction=split.test_fraction,
        cold_user_fraction=split.cold_user_fraction,
        cold_item_fraction=split.cold_item_fraction,
        cold_valid_share=split.cold_valid_share,
        reveal=split.reveal,
        sparsity=split.sparsity,
        leave_last_out=split.leave_last_out,
        seed=params.seed,
        paper_protocols=split.paper_protocols,
        paper_valid_fraction=split.paper_valid_fraction,
    )
    regimes.write(paths.SPLITS_DIR)
    stats = {
        "filtered": describe(interactions),
        "cold_users": int(regimes.users["cold_user"].sum()),
        "cold_items": int(regimes.items["cold_item"].sum()),
        "warm": {name: describe(frame) for name, frame in regimes.warm.items()},
        "sparse": {f"{fraction:g}": describe(frame) for fraction, frame in regimes.sparse.items()},
        "cold_users_parts": {f"k{k}": {part: describe(frame) for part, frame in parts.items()}
                             for k, parts in regimes.cold_users.items()},
        "cold_items_parts": {part: describe(frame) for part, frame in regimes.cold_items.items()},
        **({"paper_protocols": {protocol: {part: describe(frame) for part, frame in parts.items()}
                                for protocol, parts in regimes.paper.items()}} if regimes.paper else {}),
    }
    paths.REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    paths.DATASET_STATS.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    log.info("after %d-core: %s; %d cold users, %d cold items", params.data.kcore, stats["filtered"],
             stats["cold_users"], stats["cold_items"])


if __name__ == "__main__":
    run_stage("split", main)
