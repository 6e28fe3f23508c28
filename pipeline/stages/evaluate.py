"""Stage `evaluate@<model>`: every regime's metrics for one model, per-user values for intervals and
paired tests, per-item leave-one-out values where only a candidate set is ranked (cold items: their
uncertainty is over the few items more than over the users), and the warm test top-K lists."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import polars as pl

from pipeline import paths
from pipeline.config import EvaluationParams, load_params
from pipeline.data.interactions import IdIndex
from pipeline.data.paper_protocols import protocol_of
from pipeline.data.schema import ITEM, USER
from pipeline.evaluation.protocol import EvaluationSet, RankingEvaluation, evaluate_ranking
from pipeline.evaluation.regimes import COLD_ITEMS, WARM, RegimeData
from pipeline.evaluation.sampled import sampled_metrics
from pipeline.evaluation.significance import leave_one_item_out
from pipeline.models.base import Recommender
from pipeline.models.registry import load_model
from pipeline.stages.cli import run_stage
from pipeline.stages.train import TRAINING_FILE, load_regime_data
from pipeline.training.device import resolve_device

log = logging.getLogger(__name__)
PER_USER_METRICS = ("ndcg@10", "recall@10")
PER_ITEM_CUT_OFF = 10
PER_ITEM_METRIC = f"ndcg@{PER_ITEM_CUT_OFF}"  # averaged over users with one candidate item left out, per candidate
PER_ITEM_SCHEMA = {"regime": pl.String, "part": pl.String, ITEM: pl.String, PER_ITEM_METRIC: pl.Float64}


class RegimeEvaluator:
    """Scores one model's variants on every regime and collects summaries and per-user values."""

    def __init__(self, data: RegimeData, settings: EvaluationParams, seed: int):
        self.data = data
        self.settings = settings
        self.seed = seed
        self.ks = sorted(set(settings.ks) | {settings.topk_list_length})
        self.popularity = data.warm["train"].item_counts
        self.n_train_users = int((np.diff(data.warm["train"].csr.indptr) > 0).sum())
        self.metrics: dict[str, dict] = {}
        self.per_user: list[pl.DataFrame] = []
        self.per_item: list[pl.DataFrame] = [pl.DataFrame(schema=PER_ITEM_SCHEMA)]

    def rank(self, model: Recommender, regime: str, part: str, evaluation_set: EvaluationSet) -> RankingEvaluation:
        # a small candidate set (the cold items of one part, on small data) cannot fill the longest cut-offs
        available = len(evaluation_set.candidates) if evaluation_set.candidates is not None else self.data.index.n_items
        ks = [k for k in self.ks if k <= available]
        if len(ks) < len(self.ks):
            log.warning("%s/%s: only %d candidate items, metrics at cut-offs above that are left out", regime, part,
                        available)
        # leaving one candidate out needs one more ranked item than the cut-off
        jackknife = evaluation_set.candidates is not None and available > PER_ITEM_CUT_OFF
        result = evaluate_ranking(model, evaluation_set, [*ks, PER_ITEM_CUT_OFF + 1] if jackknife else ks,
                                  self.settings.batch_size, self.popularity, self.n_train_users)
        self.metrics.setdefault(regime, {})[part] = {
            key: value for key, value in result.summary.items()
            if "@" not in key or int(key.split("@")[1]) in self.settings.ks
        }
        self.per_user.append(pl.DataFrame({
            "regime": regime, "part": part, USER: self.data.index.user_ids[result.users],
            **{metric: result.per_user[metric] for metric in PER_USER_METRICS},
        }))
        if jackknife:
            self.per_item.append(pl.DataFrame({
                "regime": regime, "part": part, ITEM: self.data.index.item_ids[evaluation_set.candidates],
                PER_ITEM_METRIC: leave_one_item_out(result, evaluation_set, PER_ITEM_CUT_OFF),
            }, schema=PER_ITEM_SCHEMA))
        return result

    def not_applicable(self, regime: str, reason: str) -> None:
        self.metrics[regime] = {"not_applicable": reason}


def evaluate_model(name: str, evaluator: RegimeEvaluator, device, topk_length: int) -> pl.DataFrame | None:
    data, top_lists = evaluator.data, None
    for variant_dir in sorted(p for p in paths.model_dir(name).iterdir() if p.is_dir()):
        variant = variant_dir.name
        model = load_model(variant_dir, device)
        paper = protocol_of(variant)
        for part, evaluation_set in data.warm_like_sets(variant).items():
            result = evaluator.rank(model, variant, part, evaluation_set)
            if paper is not None:
                evaluator.metrics[variant][part]["protocol"] = paper.label
            if variant == WARM and part == "test":
                top_lists = top_k_frame(result, data.index, topk_length)
                if evaluator.settings.sampled_negatives:
                    evaluator.metrics["warm_sampled"] = {"test": sampled_metrics(
                        model, evaluation_set, evaluator.settings.sampled_negatives, 10,
                        evaluator.settings.batch_size, evaluator.seed)}
        if variant != WARM:
            continue
        for regime, cold_users in data.cold_user_sets().items():
            fresh = load_model(variant_dir, device)  # fold-in must not carry over between k
            fresh.fold_in(cold_users.users, cold_users.history)
            for part, evaluation_set in cold_users.parts.items():
                evaluator.rank(fresh, regime, part, evaluation_set)
        cold_items = data.cold_item_sets()
        reason = model.unsupported_regimes.get(COLD_ITEMS)
        if cold_items and reason:
            evaluator.not_applicable(COLD_ITEMS, reason)
        elif not reason:
            for part, evaluation_set in cold_items.items():
                evaluator.rank(model, COLD_ITEMS, part, evaluation_set)
    return top_lists


def top_k_frame(result: RankingEvaluation, index: IdIndex, length: int) -> pl.DataFrame:
    """Long format (user_id, rank 1..K, item_id) with original ids."""
    top = result.top_items[:, :length]
    return pl.DataFrame({
        USER: np.repeat(index.user_ids[result.users], top.shape[1]),
        "rank": np.tile(np.arange(1, top.shape[1] + 1), len(result.users)),
        ITEM: index.item_ids[top.ravel()],
    })


def training_seconds(name: str) -> dict[str, float]:
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8"))["seconds"]
        for path in sorted(paths.model_dir(name).glob(f"*/{TRAINING_FILE}"))
    }


def write_outputs(name: str, evaluator: RegimeEvaluator, top_lists: pl.DataFrame | None) -> None:
    seconds = training_seconds(name)
    report = {"model": name, "train_seconds": seconds.get(WARM, float("nan")),
              "train_seconds_by_variant": seconds, **evaluator.metrics}
    for directory in (paths.METRICS_DIR, paths.TOPK_DIR, paths.PER_USER_DIR, paths.PER_ITEM_DIR):
        directory.mkdir(parents=True, exist_ok=True)
    paths.metrics_file(name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    pl.concat(evaluator.per_user).write_parquet(per_user_file(name))
    pl.concat(evaluator.per_item).write_parquet(per_item_file(name))
    if top_lists is not None:
        top_lists.write_parquet(paths.TOPK_DIR / f"{name}.parquet")


def per_user_file(name: str) -> Path:
    return paths.PER_USER_DIR / f"{name}.parquet"


def per_item_file(name: str) -> Path:
    return paths.PER_ITEM_DIR / f"{name}.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    name = parser.parse_args().model
    params = load_params()
    evaluator = RegimeEvaluator(load_regime_data(), params.evaluation, params.seed)
    top_lists = evaluate_model(name, evaluator, resolve_device(params.train.device), params.evaluation.topk_list_length)
    write_outputs(name, evaluator, top_lists)
    warm = evaluator.metrics[WARM]
    log.info("%s: warm valid ndcg@10 %.4f, test ndcg@10 %.4f", name, warm["valid"]["ndcg@10"], warm["test"]["ndcg@10"])


if __name__ == "__main__":
    run_stage("evaluate", main)
