"""The regimes the cold-start GANs are judged on, for chosen models and training variants only, and their
leaderboard rows against models the pipeline already evaluated.

    python benchmarks/gan_regimes.py --models cold_gan gar --variants warm
    python benchmarks/gan_regimes.py --models multdae_gan_aug --variants sparse_0.2
    python benchmarks/gan_regimes.py --trained multdae --variants warm sparse_0.2
    python benchmarks/gan_regimes.py --against --regimes cold_users_k3 cold_users_k5 cold_items sparse_0.2

`dvc repro evaluate@<name>` trains every variant (warm, sparse_*, loo); on a busy machine that is hours
for the few figures a GAN is judged on. This script trains `--models` on `--variants` only, with their
params.yaml settings, saves them as the train stage does and scores them with the evaluate stage's own
code (`evaluate_model`: fresh copy per k for cold users, cold items among their part's cold items),
writing the stage's outputs under `--out` instead of models/, metrics/ and reports/. With `--against`,
it prints the report stage's leaderboard rows for `--regimes` over everything under `--out` plus the
listed models' evaluate-stage outputs (metrics/, reports/per_user/): test NDCG@10, the 95 % bootstrap
interval, and the paired Wilcoxon p-values against the regime's validation-selected best (`p_vs_best`)
and against popularity.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import polars as pl
import yaml

from pipeline import paths
from pipeline.config import load_params
from pipeline.evaluation.leaderboard import build_leaderboard, load_reports, to_markdown
from pipeline.models.registry import create_model
from pipeline.stages.evaluate import RegimeEvaluator, evaluate_model, per_item_file, per_user_file, write_outputs
from pipeline.stages.train import TRAINING_FILE, load_regime_data, model_params
from pipeline.training.device import seed_everything

# the stage's folders, before main() points paths at --out
STAGE_MODELS_DIR, STAGE_METRICS_DIR = paths.MODELS_DIR, paths.METRICS_DIR
STAGE_PER_USER_DIR, STAGE_PER_ITEM_DIR = paths.PER_USER_DIR, paths.PER_ITEM_DIR
COLUMNS = ("model", "valid_ndcg@10", "test_ndcg@10", "ndcg@10_ci_low", "ndcg@10_ci_high", "p_vs_best",
           "p_vs_popularity", "ndcg@10_items_ci_low", "ndcg@10_items_ci_high", "p_items_vs_best", "train_seconds")


def train_and_evaluate(names: list[str], variants: list[str], trained: list[str], overrides: dict) -> None:
    """Train (or, for `trained`, copy the train stage's) `variants` of each model, then evaluate them."""
    params = load_params()
    data = load_regime_data()
    training_sets = data.training_sets()
    for name in [*names, *trained]:
        for variant in variants:
            if name in trained:
                shutil.copytree(STAGE_MODELS_DIR / name / variant, paths.model_dir(name, variant), dirs_exist_ok=True)
                continue
            seed_everything(params.seed)
            model = create_model(name, {**model_params(params, name), **overrides}, data.index.n_users, data.index.n_items, "cpu",
                                 params.seed)
            started = time.perf_counter(), time.process_time()
            model.fit(training_sets[variant].train, training_sets[variant].valid)
            seconds = time.perf_counter() - started[0]
            directory = paths.model_dir(name, variant)
            model.save(directory)
            record = {"seconds": seconds, "cpu_seconds": time.process_time() - started[1], "device": "cpu",
                      "log": getattr(model, "training_log", [])}
            (directory / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            print(f"trained {name}/{variant}: {seconds:.1f} s wall, {record['cpu_seconds']:.1f} s CPU", flush=True)
        evaluator = RegimeEvaluator(data, params.evaluation, params.seed)
        write_outputs(name, evaluator, evaluate_model(name, evaluator, "cpu", params.evaluation.topk_list_length))


def leaderboards(out: Path, against: list[str], regimes: list[str]) -> None:
    params = load_params()
    ours = sorted((out / "metrics").glob("*.json"))
    theirs = [STAGE_METRICS_DIR / f"{name}.json" for name in against]
    reports = load_reports(ours + theirs)
    def values(file_of, stage_dir: Path) -> pl.DataFrame:
        return pl.concat([pl.read_parquet(file_of(path.stem)).with_columns(model=pl.lit(path.stem)) for path in ours]
                         + [pl.read_parquet(stage_dir / f"{name}.parquet").with_columns(model=pl.lit(name))
                            for name in against])

    per_user, per_item = values(per_user_file, STAGE_PER_USER_DIR), values(per_item_file, STAGE_PER_ITEM_DIR)
    for regime in regimes:
        serving = [report for report in reports if regime in report]
        board = build_leaderboard(serving, per_user, regime, params.evaluation.selection_metric,
                                  params.evaluation.bootstrap_samples, params.seed, baseline="popularity",
                                  per_item=per_item)
        print(to_markdown(board.select([c for c in COLUMNS if c in board.columns]), regime))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[])
    parser.add_argument("--trained", nargs="*", default=[], help="models the train stage already trained: their "
                        "models/<name>/<variant> are scored, not retrained")
    parser.add_argument("--variants", nargs="+", default=["warm"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting of "
                        "every trained model (value parsed as YAML); use another --out to keep both results")
    parser.add_argument("--against", nargs="*", default=None, help="models with evaluate-stage outputs to compare")
    parser.add_argument("--regimes", nargs="+", default=["cold_users_k3", "cold_users_k5", "cold_items", "sparse_0.2"])
    parser.add_argument("--out", type=Path, default=Path("reports/gan_regimes"))
    args = parser.parse_args()
    for attribute, folder in (("MODELS_DIR", "models"), ("METRICS_DIR", "metrics")):
        setattr(paths, attribute, args.out / folder)
    paths.PER_USER_DIR, paths.TOPK_DIR = args.out / "reports" / "per_user", args.out / "reports" / "topk"
    paths.PER_ITEM_DIR = args.out / "reports" / "per_item"
    if args.models or args.trained:
        overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
        train_and_evaluate(args.models, args.variants, args.trained, overrides)
    if args.against is not None:
        leaderboards(args.out, args.against, args.regimes)


if __name__ == "__main__":
    main()
