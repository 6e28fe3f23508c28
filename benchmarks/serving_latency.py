"""Latency of the served model: p50/p99 of single requests and of batches of 100 users, on the default
data, through the same log/load path as the register stage (an MLflow pyfunc logged from code, loaded
back with `mlflow.pyfunc.load_model`) and, with --http, through `mlflow models serve` on 127.0.0.1.

    python benchmarks/serving_latency.py                         # EASE, in-process
    python benchmarks/serving_latency.py --models ease bpr --http --repeats 200

Run from the repository root after `dvc repro split`. Each model is trained on the warm split as the
train stage trains it (params.yaml settings), unless models/<name>/warm already holds it. Everything
goes to a temporary MLflow store. Prints milliseconds per call (wall) and the CPU seconds the whole
in-process loop used, per request kind: a known user, a new user with 3 recent items (folded in),
100 known users, 100 new users with 3 recent items each. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.schema import USER
from pipeline.models.registry import create_model
from pipeline.registry.pyfunc import log_pyfunc
from pipeline.stages.register import known_history
from pipeline.stages.train import load_regime_data
from pipeline.training.device import resolve_device, seed_everything

# per-file download bars would drown the figures, as they would a stage log
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

BATCH = 100
RECENT = 3


def trained_model_dir(name: str, scratch: Path) -> Path:
    """models/<name>/warm when the pipeline trained it, else a fresh training on the warm split."""
    existing = paths.model_dir(name, "warm")
    if existing.exists():
        return existing
    params = load_params()
    data = load_regime_data()
    device = resolve_device(params.train.device)
    seed_everything(params.seed)
    model = create_model(name, params.models.get(name) or {}, data.index.n_users, data.index.n_items, device,
                         params.seed)
    started = time.perf_counter()
    model.fit(data.warm["train"], data.warm["valid"])
    print(f"{name}: trained in {time.perf_counter() - started:.1f} s (not in models/{name}/warm)")
    directory = scratch / name
    model.save(directory)
    data.index.save(directory)
    return directory


def request_makers(rng: np.random.Generator) -> dict[str, Callable[[], list[dict]]]:
    """Per request kind, a maker of fresh request records (new random users each call)."""
    history = known_history()
    users = history[USER].unique().sort().to_numpy()
    items = history["item_id"].unique().sort().to_numpy()

    def new_users(count: int) -> list[dict]:
        return [{USER: f"new-{rng.integers(1 << 30)}", "recent_items": rng.choice(items, RECENT, replace=False).tolist()}
                for _ in range(count)]

    return {
        "known user": lambda: [{USER: str(rng.choice(users))}],
        f"new user, {RECENT} recent items": lambda: new_users(1),
        f"{BATCH} known users": lambda: [{USER: str(user)} for user in rng.choice(users, BATCH, replace=False)],
        f"{BATCH} new users": lambda: new_users(BATCH),
    }


def benchmark(label: str, name: str, call: Callable[[list[dict]], object],
              makers: dict[str, Callable[[], list[dict]]], repeats: int) -> None:
    """Print p50/p99 wall milliseconds per call and the CPU seconds of this process, per request kind."""
    for kind, make in makers.items():
        call(make())  # warm-up: first-call caches (sparse matrices, item vectors)
        millis, cpu = [], time.process_time()
        for _ in range(repeats):
            records = make()
            started = time.perf_counter()
            call(records)
            millis.append((time.perf_counter() - started) * 1000)
        cpu = time.process_time() - cpu
        print(f"{label:<10} {name:<10} {kind:<28} p50 {np.percentile(millis, 50):8.1f} ms  "
              f"p99 {np.percentile(millis, 99):8.1f} ms  (n={repeats}, this process's cpu {cpu:.2f} s)")


def serve(model_uri: str, tracking_uri: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen([f"{bin_dir}/mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
                                "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("`mlflow models serve` did not come up")


def post(url: str, records: list[dict]) -> object:
    body = json.dumps({"dataframe_records": records, "params": {"k": 10}}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["ease"], help="models.<name> keys of params.yaml")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per request kind")
    parser.add_argument("--http", action="store_true", help="also through `mlflow models serve` on 127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as scratch:
        tracking_uri = f"sqlite:///{scratch}/mlflow.db"
        mlflow.set_tracking_uri(tracking_uri)
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        mlflow.set_experiment("serving-latency")
        for name in args.models:
            with mlflow.start_run(run_name=name):
                info = log_pyfunc(trained_model_dir(name, Path(scratch)), known_history())
            model = mlflow.pyfunc.load_model(info.model_uri)
            makers = request_makers(np.random.default_rng(args.seed))
            benchmark("in-process", name, lambda records, model=model: model.predict(
                pd.DataFrame(records), params={"k": 10}), makers, args.repeats)
            if args.http:
                process, url = serve(info.model_uri, tracking_uri)
                try:
                    benchmark("http", name, lambda records, url=url: post(url, records), makers, args.repeats)
                finally:
                    process.terminate()
                    process.wait(timeout=30)

if __name__ == "__main__":
    main()
