"""Our models beside RecBole's on the identical warm split: training s/epoch, evaluation s and test NDCG@10.

RecBole lives in a virtualenv of its own (nothing of it goes in our pyproject). RecBole 1.2.1 predates
numpy 2, pandas 2.2 and scipy 1.13; this set installs and runs with the project's torch:

    python3.11 -m venv /tmp/recbole-venv
    /tmp/recbole-venv/bin/pip install recbole==1.2.1 torch==2.13.0 'numpy<2' 'scipy<1.13' 'pandas<2.2' pyarrow

then, from the repository root with data/splits made (`dvc repro split`):

    python -m benchmarks.recbole_side_by_side                         # all six models, 10 epochs each
    python -m benchmarks.recbole_side_by_side --models bpr multvae --epochs 5 --recbole-python /path/bin/python

What is identical: the split (data/splits/warm exported to RecBole atomic files with `benchmark_filename`, so
RecBole neither re-splits nor filters), the epoch cap, early stopping on validation NDCG@10 with our patience,
best-epoch weights for test, learning rate, batch size and embedding size, the CPU threads (`--threads`,
default 1), and the scoring
of the top-50 lists: RecBole's lists are ranked with OUR masking (every train + valid item of the user) and
scored by our metrics code, printed as "NDCG@10 (our protocol)". RecBole's own evaluation is also run and
timed ("eval s") and its NDCG@10 printed ("native"); it differs by design in two places: a held-out item
the user already had in train/valid (a repeat) stays rankable there (we mask it), and for sequential models
RecBole masks nothing (we mask the history). Everything else is each library's own default for the model.
Sequential models read RecBole's pre-cut sequence files (`item_id_list`: the last `max_length` earlier
items). Wall times on a shared machine depend on what else runs: the ratios are the figure to read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from pipeline.data.interactions import Interactions, SplitData
from pipeline.evaluation.metrics import accuracy_metrics
from pipeline.evaluation.protocol import evaluate_ranking, target_hits, warm_sets
from pipeline.models.registry import create_model
from pipeline.training.device import seed_everything

REPO_ROOT = Path(__file__).resolve().parents[1]
RECBOLE_NAMES = {"bpr": "BPR", "neumf": "NeuMF", "multvae": "MultiVAE", "recvae": "RecVAE", "gru4rec": "GRU4Rec",
                 "sasrec": "SASRec"}
RUNNER = Path(__file__).with_name("recbole_runner.py")


def time_ordered(part: Interactions) -> list[np.ndarray]:
    """Each user's items in time order (ties by item index, as our sequence models read them)."""
    order, offsets = part.time_order, part.user_offsets
    return [part.items[order[offsets[user] : offsets[user + 1]]] for user in range(part.n_users)]


def export_atomic(split: SplitData, directory: Path, max_length: int) -> None:
    """warm/warm.<part>.inter (user, item, timestamp) and warm_seq/warm_seq.<part>.inter (user, the previous
    `max_length` items, item) with our original ids as RecBole tokens."""
    users, items = split.index.user_ids, split.index.item_ids
    (directory / "warm").mkdir(parents=True, exist_ok=True)
    for name, part in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        lines = ["user_id:token\titem_id:token\ttimestamp:float"]
        lines += [f"{users[u]}\t{items[i]}\t{t}" for u, i, t in zip(part.users, part.items, part.timestamps, strict=True)]
        (directory / "warm" / f"warm.{name}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "warm_seq").mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token"

    def row(user: int, previous: np.ndarray, item: int) -> str:
        return f"{users[user]}\t{' '.join(items[previous[-max_length:]])}\t{items[item]}"

    train_sequences = time_ordered(split.train)
    train_rows = [row(u, seq[:t], seq[t]) for u, seq in enumerate(train_sequences) for t in range(1, len(seq))]
    valid_rows = [row(u, train_sequences[u], i) for u, i in zip(split.valid.users, split.valid.items, strict=True)]
    known = time_ordered(split.train.concat(split.valid))
    test_rows = [row(u, known[u], i) for u, i in zip(split.test.users, split.test.items, strict=True)]
    for name, rows in (("train", train_rows), ("valid", valid_rows), ("test", test_rows)):
        (directory / "warm_seq" / f"warm_seq.{name}.inter").write_text("\n".join([header, *rows]) + "\n",
                                                                       encoding="utf-8")


def run_ours(name: str, params: dict, split: SplitData, seed: int) -> dict:
    seed_everything(seed)
    model = create_model(name, params, split.index.n_users, split.index.n_items, "cpu", seed)
    model.fit(split.train, split.valid)
    test = warm_sets(split)["test"]
    started = time.perf_counter()
    result = evaluate_ranking(model, test, [10], 1024, split.train.item_counts, split.train.n_users)
    return {"epoch_seconds": [record["seconds"] for record in model.training_log],
            "evaluation_seconds": time.perf_counter() - started, "ndcg@10": result.summary["ndcg@10"], "model": model}


def run_recbole(name: str, model_config, split_dir: Path, recbole_python: str, epochs: int, seed: int,
                threads: int) -> dict:
    result = split_dir / f"{name}.recbole.json"
    command = [recbole_python, str(RUNNER), "--atomic-dir", str(split_dir), "--model", RECBOLE_NAMES[name],
               "--epochs", str(epochs), "--patience", str(model_config.patience),
               "--learning-rate", str(model_config.learning_rate), "--batch-size", str(model_config.batch_size),
               "--embedding-size", str(getattr(model_config, "embedding_dim", 64)),
               "--max-length", str(getattr(model_config, "max_length", 50)), "--seed", str(seed), "--threads", str(threads),
               "--result", str(result)]
    completed = subprocess.run(command, cwd=split_dir, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"RecBole {RECBOLE_NAMES[name]} failed (is {recbole_python} RecBole's venv? see this "
                         f"script's docstring):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return json.loads(result.read_text(encoding="utf-8"))


def ndcg_of_lists(tops: dict[str, list[str]], split: SplitData) -> float:
    """NDCG@10 of top lists keyed by original user id, against the warm test targets, by our metrics code."""
    test_users = np.flatnonzero(np.diff(split.test.csr.indptr) > 0)
    user_index = split.index.user_index(np.array(list(tops)))
    if set(user_index.tolist()) != set(test_users.tolist()):
        raise SystemExit("RecBole ranked a different set of test users than the split has: check the export")
    items = np.stack([split.index.item_index(np.array(top[:10])) for top in tops.values()])
    hits = target_hits(split.test.csr, user_index, items)
    return float(accuracy_metrics(hits, np.diff(split.test.csr.indptr)[user_index], [10])["ndcg@10"].mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(RECBOLE_NAMES), default=list(RECBOLE_NAMES))
    parser.add_argument("--epochs", type=int, default=10, help="the same cap for both libraries")
    parser.add_argument("--split", type=Path, default=REPO_ROOT / "data" / "splits" / "warm")
    parser.add_argument("--recbole-python", default="/tmp/recbole-venv/bin/python")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, the same for both libraries "
                        "(one keeps figures steadier on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not Path(args.recbole_python).exists():
        raise SystemExit(f"{args.recbole_python} not found: create RecBole's venv as this script's docstring says")
    split = SplitData.load(args.split)
    all_params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))["models"]
    print(f"side by side on {args.split}: {split.index.n_users} users, {split.index.n_items} items, "
          f"{len(split.train)} train interactions; epochs capped at {args.epochs}; {os.cpu_count()} CPUs, load "
          f"average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    print_header()
    with tempfile.TemporaryDirectory(prefix="recbole_") as atomic:
        for name in args.models:
            params = {**(all_params.get(name) or {}), "epochs": args.epochs}
            ours = run_ours(name, params, split, args.seed)
            export_atomic(split, Path(atomic), getattr(ours["model"].config, "max_length", 50))
            theirs = run_recbole(name, ours["model"].config, Path(atomic), args.recbole_python, args.epochs, args.seed,
                                 args.threads)
            theirs["ndcg@10"] = ndcg_of_lists(theirs["top"], split)
            print_row(name, ours, theirs)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other jobs share the CPUs); "
          "ratio = RecBole / ours (above 1: ours faster); NDCG@10 ours and RB: the same masking and metrics code")


def print_header() -> None:
    print(f"\n{'model':<8} | {'epochs ours/RB':>14} | {'s/epoch ours':>12} | {'s/epoch RB':>10} | {'ratio':>6} | "
          f"{'eval s ours':>11} | {'eval s RB':>9} | {'ratio':>6} | {'NDCG@10 ours':>12} | {'NDCG@10 RB':>10} | "
          f"{'RB native':>9}")
    print("-" * 131, flush=True)


def print_row(name: str, ours: dict, theirs: dict) -> None:
    train_ours, train_theirs = np.mean(ours["epoch_seconds"]), np.mean(theirs["epoch_seconds"])
    epochs = f"{len(ours['epoch_seconds'])}/{len(theirs['epoch_seconds'])}"
    print(f"{name:<8} | {epochs:>14} | {train_ours:12.2f} | {train_theirs:10.2f} | {train_theirs / train_ours:6.2f} | "
          f"{ours['evaluation_seconds']:11.2f} | {theirs['evaluation_seconds']:9.2f} | "
          f"{theirs['evaluation_seconds'] / ours['evaluation_seconds']:6.2f} | {ours['ndcg@10']:12.4f} | "
          f"{theirs['ndcg@10']:10.4f} | {theirs['native_ndcg@10']:9.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
