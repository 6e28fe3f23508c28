"""Full-ranking evaluation at scale: wall time, CPU time, users/s and peak RSS, chunked against the old dense path.

    python -m benchmarks.ranking_memory                        # 20M interactions, 1M users x 100k items
    python -m benchmarks.ranking_memory --interactions 2M --users 100k --items 20k --sample-users 5000
    python -m benchmarks.ranking_memory --eval-users 200k      # rank a seeded sample instead of every user

Data: the seeded synthetic source (pipeline.data.sources.synthetic) with users and items given explicitly;
each user's last interaction (in time) is the target and the rest is the history that the model is trained
on and that ranking masks (users with a single interaction have no history and are not evaluated).
Models: popularity (no training: the ranking alone) and BPR for one epoch without validation (the cheapest
embedding model; quality is beside the point, it makes the scores personal so that masking and top-K merge
work on real, untied values). Both score item ranges themselves, so evaluation holds batch x chunk scores.

Every step runs in its own process (as `dvc repro` runs stages) and `os.wait4` gives its own peak RSS and CPU
time; the evaluation child also reports the RSS it had before ranking started (data + model), so the
difference is what ranking itself cost. The old path (one dense [batch, n_items] score, mask and relevance
matrix per user batch and a full sort, as pipeline/evaluation before chunking) runs on a seeded sample of
`--sample-users` users beside the chunked path on the same sample, and the two NDCG@10 are compared.
Nothing is extrapolated: each line is what that run measured. Wall time on a shared machine depends on
what else runs; CPU time is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from benchmarks.scale_data import GIB, label, parse_size, run_measured
from pipeline.config import SyntheticParams
from pipeline.data.interactions import Interactions
from pipeline.data.schema import ITEM, TIMESTAMP, USER
from pipeline.data.sources.synthetic import generate
from pipeline.evaluation.metrics import accuracy_metrics, beyond_accuracy_metrics
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.base import Recommender, ScoringContext
from pipeline.models.registry import create_model, load_model

KS = (5, 10, 20, 50)
BATCH_SIZE = 1024
MODELS = {"popularity": {}, "bpr": {"epochs": 1, "embedding_dim": 32, "batch_size": 65_536, "learning_rate": 0.01}}


def current_rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def prepare(directory: Path, interactions: int, users: int, items: int, seed: int) -> None:
    """Generate the data and write the leave-last-one-out history and targets as Parquet (dense indices)."""
    frame = generate(SyntheticParams(interactions=interactions, users=users, items=items, seed=seed)).interactions
    frame = frame.select(
        (pl.col(USER).cast(pl.Int64) - 1).alias("user"), (pl.col(ITEM).cast(pl.Int64) - 1).alias("item"),
        pl.col(TIMESTAMP).cast(pl.Int64).alias("timestamp"),
    ).sort("user", "timestamp")
    last = pl.col("user") != pl.col("user").shift(-1, fill_value=-1)
    has_history = pl.len().over("user") > 1
    directory.mkdir(parents=True, exist_ok=True)
    frame.filter(~last).write_parquet(directory / "history.parquet")
    frame.filter(last & has_history).write_parquet(directory / "targets.parquet")
    (directory / "shape.json").write_text(json.dumps({"n_users": users, "n_items": items}), encoding="utf-8")


def read_part(directory: Path, part: str) -> Interactions:
    shape = json.loads((directory / "shape.json").read_text(encoding="utf-8"))
    frame = pl.read_parquet(directory / f"{part}.parquet")
    return Interactions(
        users=frame["user"].to_numpy(), items=frame["item"].to_numpy(), timestamps=frame["timestamp"].to_numpy(),
        ratings=np.full(len(frame), np.nan, dtype=np.float32), n_users=shape["n_users"], n_items=shape["n_items"],
    )


def train(directory: Path, model_name: str, seed: int) -> None:
    history = read_part(directory, "history")
    model = create_model(model_name, MODELS[model_name], history.n_users, history.n_items, "cpu", seed)
    model.fit(history).save(directory / "models" / model_name)


def dense_evaluation(model: Recommender, evaluation_set: EvaluationSet, ks: tuple[int, ...], batch_size: int,
                     item_popularity: np.ndarray, n_train_users: int) -> dict[str, float]:
    """The path before chunking, kept here as the baseline: per user batch one dense score matrix, a dense
    mask of known items, a full stable sort and a dense relevance matrix."""
    targets, history = evaluation_set.targets.csr, evaluation_set.history.csr
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    context = ScoringContext(history=evaluation_set.history)
    top_parts, hit_parts = [], []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            scores = model.score(torch.from_numpy(batch), context).float()
            known = torch.from_numpy(history[batch].toarray()) > 0
            order = torch.sort(scores.masked_fill(known, float("-inf")), dim=1, descending=True, stable=True)
            items = order.indices[:, : max(ks)].numpy()
            hit_parts.append(np.take_along_axis(targets[batch].toarray(), items, axis=1) > 0)
            top_parts.append(items)
    per_user = accuracy_metrics(np.concatenate(hit_parts), np.diff(targets.indptr)[users], ks)
    summary = {key: float(values.mean()) for key, values in per_user.items()}
    summary.update(beyond_accuracy_metrics(np.concatenate(top_parts), item_popularity, n_train_users, ks))
    return summary


def evaluate(directory: Path, model_name: str, path: str, n_users: int | None, seed: int, result: Path) -> None:
    history, targets = read_part(directory, "history"), read_part(directory, "targets")
    if n_users is not None and n_users < len(targets):
        sampled = np.zeros(len(targets), dtype=bool)  # one target per user: sampling targets samples users
        sampled[np.random.default_rng(seed).choice(len(targets), size=n_users, replace=False)] = True
        targets = targets.subset(sampled)
    model = load_model(directory / "models" / model_name)
    evaluation_set = EvaluationSet(history=history, targets=targets)
    popularity = history.item_counts
    _ = history.csr, targets.csr  # built before the clock starts: the data, not the ranking
    rss_before = current_rss_bytes()
    started, cpu_started = time.perf_counter(), time.process_time()
    if path == "chunked":
        summary = evaluate_ranking(model, evaluation_set, KS, BATCH_SIZE, popularity, history.n_users).summary
    else:
        summary = dense_evaluation(model, evaluation_set, KS, BATCH_SIZE, popularity, history.n_users)
    figures = {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu_started,
               "users": len(targets), "rss_before_bytes": rss_before, "ndcg@10": summary["ndcg@10"]}
    result.write_text(json.dumps(figures), encoding="utf-8")


def child(command: list[str], cwd: Path, step: str) -> tuple[dict, float, int]:
    """Run this script's `command` in a fresh process: (its JSON result, CPU s, peak RSS bytes)."""
    result = cwd / "result.json"
    result.unlink(missing_ok=True)
    measured = run_measured([sys.executable, "-m", "benchmarks.ranking_memory", *command, "--result", str(result)],
                            cwd, step)
    figures = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
    return figures | {"wall_total_s": measured.wall_s}, measured.cpu_s, measured.peak_rss_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=parse_size, default=20_000_000)
    parser.add_argument("--users", type=parse_size, default=1_000_000)
    parser.add_argument("--items", type=parse_size, default=100_000)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS, reverse=True))
    parser.add_argument("--eval-users", type=parse_size, help="rank a seeded sample of this many users (default all)")
    parser.add_argument("--sample-users", type=parse_size, default=20_000, help="users ranked by the old and new path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the generated data goes (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and models afterwards")
    parser.add_argument("--step", choices=("prepare", "train", "evaluate"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=("chunked", "dense"), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ranking_memory_"))
    if args.step == "prepare":
        return prepare(workdir, args.interactions, args.users, args.items, args.seed)
    if args.step == "train":
        return train(workdir, args.model, args.seed)
    if args.step == "evaluate":
        return evaluate(workdir, args.model, args.path, args.eval_users, args.seed, args.result)
    run_benchmark(args, workdir)


def run_benchmark(args: argparse.Namespace, workdir: Path) -> None:
    shape = f"{label(args.interactions)} interactions, {label(args.users)} users x {label(args.items)} items"
    print(f"ranking benchmark: {shape}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start", flush=True)
    common = ["--workdir", str(workdir), "--seed", str(args.seed)]
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        sizes = ["--interactions", str(args.interactions), "--users", str(args.users), "--items", str(args.items)]
        _, cpu, rss = child(["--step", "prepare", *sizes, *common], workdir, "prepare")
        print(f"  generate + leave-last-out split: {cpu:.0f} s CPU, peak RSS {rss / GIB:.2f} GiB", flush=True)
        for model in args.models:
            _, cpu, rss = child(["--step", "train", "--model", model, *common], workdir, f"train {model}")
            print(f"  train {model}: {cpu:.0f} s CPU, peak RSS {rss / GIB:.2f} GiB", flush=True)
            runs = [("chunked", args.eval_users), ("chunked", args.sample_users), ("dense", args.sample_users)]
            for path, users in runs:
                command = ["--step", "evaluate", "--model", model, "--path", path, *common]
                if users is not None:
                    command += ["--eval-users", str(users)]
                figures, cpu, rss = child(command, workdir, f"evaluate {model} {path}")
                rows.append((model, path, figures, cpu, rss))
                print(f"  evaluate {model:<10} {path:<7} {figures['users']:>8} users {figures['wall_s']:8.1f} s wall "
                      f"{figures['users'] / figures['wall_s']:8.0f} users/s peak RSS {rss / GIB:6.2f} GiB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(rows)


def report(rows: list[tuple[str, str, dict, float, int]]) -> None:
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other jobs share the CPUs)")
    print(f"\n{'model':<10} | {'path':<7} | {'users':>8} | {'wall s':>8} | {'CPU s':>8} | {'users/s':>8} | "
          f"{'RSS before GiB':>14} | {'peak RSS GiB':>12} | {'ndcg@10':>8}")
    print("-" * 106)
    for model, path, figures, cpu, rss in rows:
        print(f"{model:<10} | {path:<7} | {figures['users']:>8} | {figures['wall_s']:8.1f} | {cpu:8.1f} | "
              f"{figures['users'] / figures['wall_s']:8.0f} | {figures['rss_before_bytes'] / GIB:14.2f} | "
              f"{rss / GIB:12.2f} | {figures['ndcg@10']:8.5f}")
    for model in dict.fromkeys(row[0] for row in rows):
        chunked, dense = (next(r for r in rows[::-1] if r[0] == model and r[1] == p) for p in ("chunked", "dense"))
        extra = [(r[4] - r[2]["rss_before_bytes"]) / GIB for r in (chunked, dense)]
        same = "identical" if chunked[2]["ndcg@10"] == dense[2]["ndcg@10"] else "DIFFERENT"
        print(f"{model} on {chunked[2]['users']} users: dense/chunked wall {dense[2]['wall_s'] / chunked[2]['wall_s']:.2f}x, "
              f"ranking memory above data+model {extra[1]:.2f} vs {extra[0]:.2f} GiB, NDCG@10 {same}")


if __name__ == "__main__":
    main()
