"""Stage `evaluate@<model>`: full-ranking metrics on validation and test, and per-user top-K lists."""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.interactions import IdIndex, SplitData
from pipeline.data.schema import ITEM, USER
from pipeline.evaluation.protocol import RankingEvaluation, evaluate_ranking, warm_sets
from pipeline.models.registry import load_model
from pipeline.stages.cli import run_stage
from pipeline.stages.train import TRAINING_FILE
from pipeline.training.device import resolve_device

log = logging.getLogger(__name__)


def top_k_frame(result: RankingEvaluation, index: IdIndex, length: int) -> pl.DataFrame:
    """Long format (user_id, rank 1..K, item_id) with original ids."""
    top = result.top_items[:, :length]
    return pl.DataFrame(
        {
            USER: np.repeat(index.user_ids[result.users], top.shape[1]),
            "rank": np.tile(np.arange(1, top.shape[1] + 1), len(result.users)),
            ITEM: index.item_ids[top.ravel()],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    name = parser.parse_args().model
    params = load_params()
    settings = params.evaluation
    split = SplitData.load(paths.split_dir("warm"))
    model = load_model(paths.model_dir(name), resolve_device(params.train.device))
    popularity = split.train.item_counts
    n_train_users = int((np.diff(split.train.csr.indptr) > 0).sum())
    ks = sorted(set(settings.ks) | {settings.topk_list_length})
    metrics: dict[str, dict[str, float]] = {}
    for part, evaluation_set in warm_sets(split).items():
        result = evaluate_ranking(model, evaluation_set, ks, settings.batch_size, popularity, n_train_users)
        metrics[part] = {key: value for key, value in result.summary.items() if _reported(key, settings.ks)}
        if part == "test":
            paths.TOPK_DIR.mkdir(parents=True, exist_ok=True)
            top_k_frame(result, split.index, settings.topk_list_length).write_parquet(paths.TOPK_DIR / f"{name}.parquet")
    training = json.loads((paths.model_dir(name) / TRAINING_FILE).read_text(encoding="utf-8"))
    report = {"model": name, "train_seconds": training["seconds"], "warm": metrics}
    paths.METRICS_DIR.mkdir(parents=True, exist_ok=True)
    paths.metrics_file(name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("%s: valid ndcg@10 %.4f, test ndcg@10 %.4f", name, metrics["valid"].get("ndcg@10", float("nan")),
             metrics["test"].get("ndcg@10", float("nan")))


def _reported(key: str, ks: tuple[int, ...]) -> bool:
    return "@" not in key or int(key.split("@")[1]) in ks


if __name__ == "__main__":
    run_stage("evaluate", main)
