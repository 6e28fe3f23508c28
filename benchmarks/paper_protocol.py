"""Models under a paper's own protocol (pipeline/data/paper_protocols.py), without a `dvc repro` that
retrains every model on every variant:

    python benchmarks/paper_protocol.py --models cfgan multdae
    python benchmarks/paper_protocol.py --protocol cfgan --models cfgan

Run from the repository root after `dvc repro validate`. It filters the processed interactions as the
split stage does, builds the protocol's split in memory (seeded as `split.paper_protocols` would),
trains each model with its params.yaml settings (early stopping on the protocol's validation part),
and prints test figures at the paper's cut-offs next to the published ones. These figures are the
paper's protocol, never comparable with the pipeline's regimes.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.filtering import prepare
from pipeline.data.interactions import IdIndex, Interactions
from pipeline.data.paper_protocols import PAPER_METRICS, PROTOCOLS
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.registry import create_model
from pipeline.training.device import resolve_device, seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="cfgan", choices=sorted(PROTOCOLS))
    parser.add_argument("--models", nargs="+", required=True, help="models.<name> keys of params.yaml")
    args = parser.parse_args()
    params = load_params()
    protocol = PROTOCOLS[args.protocol]
    device = resolve_device(params.train.device)
    interactions = prepare(pl.scan_parquet(paths.INTERACTIONS_FILE), params.data)
    frames = protocol.split(interactions, params.split.paper_valid_fraction, params.seed)
    index = IdIndex.from_frames(*frames.values())
    parts = {name: Interactions.from_frame(frame, index) for name, frame in frames.items()}
    test = EvaluationSet(history=parts["train"].concat(parts["valid"]), targets=parts["test"])
    print(f"{protocol.label}\npublished: {protocol.published}")
    print(f"{'model':<12}{'cpu s':>8}" + "".join(f"{metric:>14}" for metric in PAPER_METRICS))
    for name in args.models:
        seed_everything(params.seed)
        model = create_model(name, params.models[name] or {}, index.n_users, index.n_items, device, params.seed)
        started = time.process_time()
        model.fit(parts["train"], parts["valid"])
        seconds = time.process_time() - started
        ks = sorted({int(metric.split("@")[1]) for metric in PAPER_METRICS})
        summary = evaluate_ranking(model, test, ks, 1024, parts["train"].item_counts, index.n_users).summary
        print(f"{name:<12}{seconds:>8.1f}" + "".join(f"{summary[metric]:>14.4f}" for metric in PAPER_METRICS),
              flush=True)


if __name__ == "__main__":
    main()
