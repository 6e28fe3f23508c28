"""Ingest + validate + split at growing sizes: wall time, CPU time and peak memory per stage.

    python benchmarks/scale_data.py                       # 1M, 5M and 20M interactions
    python benchmarks/scale_data.py --sizes 100k 1M       # any sizes (k/M suffixes)
    python benchmarks/scale_data.py --source synthetic    # generate inside ingest instead

For each size a throw-away project is made (params.yaml as in the repository, data.path pointing at
synthetic data written in the MovieLens 20M CSV layout by pipeline.data.sources.synthetic), and the real
stage CLIs run one after another, each in its own process as `dvc repro` runs them. `os.wait4` gives each
stage's own peak RSS and CPU time, so nothing is shared between measurements. Writing the raw files is
timed separately: it is the stand-in for a download, not part of the pipeline.

CPU time (user + system) is reported beside wall time because wall time on a shared machine depends on
what else runs; the growth ratio from the second-largest to the largest size is printed for both.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from pipeline.config import SyntheticParams
from pipeline.data.sources.synthetic import generate

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "split")
GIB = 1024**3


@dataclass(frozen=True)
class Measurement:
    step: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r}: write e.g. 500k, 1M or 20M")
    return int(float(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()])


def label(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n / 1_000:g}k"


def write_movielens_csv(n: int, directory: Path, seed: int = 0) -> None:
    """Synthetic data in the MovieLens 20M layout: ratings.csv and movies.csv with headers."""
    tables = generate(SyntheticParams(interactions=n, seed=seed))
    directory.mkdir(parents=True, exist_ok=True)
    tables.interactions.rename({"user_id": "userId", "item_id": "movieId"}).write_csv(directory / "ratings.csv")
    tables.items.select(
        pl.col("item_id").alias("movieId"),
        pl.format("{} ({})", "title", "year").alias("title"),
        pl.col("genres").list.join("|"),
    ).write_csv(directory / "movies.csv")


def run_measured(command: list[str], cwd: Path, step: str) -> Measurement:
    """Run a command to completion in its own process; its own peak RSS and CPU time from wait4."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    if process.returncode != 0:
        raise SystemExit(f"{step} failed with status {process.returncode}:\n{output[-4000:]}")
    return Measurement(step, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def make_project(root: Path, n: int, source: str) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = source
    params["data"]["path"] = "data/raw"
    params["data"]["synthetic"] = {"interactions": n, "seed": 0}
    (root / "data" / "raw").mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def benchmark_size(n: int, workdir: Path, source: str) -> list[Measurement]:
    root = workdir / label(n)
    shutil.rmtree(root, ignore_errors=True)
    make_project(root, n, source)
    measurements = []
    if source == "movielens":
        writer = f"from benchmarks.scale_data import write_movielens_csv; write_movielens_csv({n}, __import__('pathlib').Path('data/raw'))"
        measurements.append(run_measured([sys.executable, "-c", writer], root, "write raw files"))
    for stage in STAGES:
        measurements.append(run_measured([sys.executable, "-m", f"pipeline.stages.{stage}"], root, stage))
        print(f"  {label(n):>5} {stage:<16} {measurements[-1].wall_s:8.1f} s wall {measurements[-1].cpu_s:8.1f} s CPU "
              f"{measurements[-1].peak_rss_bytes / GIB:6.2f} GiB", flush=True)
    return measurements


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--source", choices=("movielens", "synthetic"), default="movielens",
                        help="movielens: ingest parses generated ratings.csv; synthetic: ingest generates")
    parser.add_argument("--workdir", type=Path, help="where the throw-away projects go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the projects (data, splits) afterwards")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale_data_"))
    print(f"scale benchmark: source {args.source}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at start, work in {workdir}", flush=True)
    results: dict[int, list[Measurement]] = {}
    try:
        for n in sorted(args.sizes):
            results[n] = benchmark_size(n, workdir, args.source)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results)


def report(results: dict[int, list[Measurement]]) -> None:
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other jobs share the CPUs)")
    print(f"\n{'size':>6} | {'step':<21} | {'wall s':>8} | {'CPU s':>8} | {'peak RSS GiB':>12}")
    print(f"{'-' * 6}-+-{'-' * 21}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 12}")
    totals = {}
    for n, measurements in results.items():
        for m in measurements:
            print(f"{label(n):>6} | {m.step:<21} | {m.wall_s:8.1f} | {m.cpu_s:8.1f} | {m.peak_rss_bytes / GIB:12.2f}")
        pipeline = [m for m in measurements if m.step in STAGES]
        totals[n] = Measurement("ingest+validate+split", sum(m.wall_s for m in pipeline), sum(m.cpu_s for m in pipeline),
                                max(m.peak_rss_bytes for m in pipeline))
        t = totals[n]
        print(f"{label(n):>6} | {t.step:<21} | {t.wall_s:8.1f} | {t.cpu_s:8.1f} | {t.peak_rss_bytes / GIB:12.2f}")
    sizes = sorted(totals)
    if len(sizes) >= 2:
        small, large = sizes[-2], sizes[-1]
        a, b = totals[small], totals[large]
        print(f"\ngrowth {label(small)} -> {label(large)} ({large / small:.1f}x the data): wall {b.wall_s / a.wall_s:.2f}x, "
              f"CPU {b.cpu_s / a.cpu_s:.2f}x, peak RSS {b.peak_rss_bytes / a.peak_rss_bytes:.2f}x")
        for stage in STAGES:
            sa = next(m for m in results[small] if m.step == stage)
            sb = next(m for m in results[large] if m.step == stage)
            print(f"  {stage:<9} wall {sb.wall_s / sa.wall_s:5.2f}x  CPU {sb.cpu_s / sa.cpu_s:5.2f}x")


if __name__ == "__main__":
    main()
