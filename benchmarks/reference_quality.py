"""Quality and CPU training time of models under the reference protocols the model issues compare with.

    python benchmarks/reference_quality.py --models gmf neumf multvae           # per-user temporal 8:1:1
    python benchmarks/reference_quality.py --protocol loo --models gru4rec sasrec
    python benchmarks/reference_quality.py --models bpr --set learning_rate=0.003 --set epochs=50

The data is the bundled MovieTweetings (run `dvc pull` first) after a 5-core filter, split without the
cold-user / cold-item holdouts of the pipeline's regimes, exactly as RecBole 1.2.1 was run for the
reference figures in the issues (docs/evaluation.md): `temporal` is the per-user temporal 8:1:1 split,
`loo` is leave-last-one-out by time. Each model uses its `models.<name>` settings from params.yaml, or
its class defaults when params.yaml does not configure it; `--set key=value` overrides a setting for
every listed model (values are parsed as YAML), which is how defaults were tuned on validation.

Prints, per model: training seconds (with per-epoch validation, as the pipeline trains), epochs run,
validation NDCG@10 (what tuning may look at) and test NDCG@10, Recall@10 and HR@10 (report only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from pipeline.config import load_params
from pipeline.data.features import build_side_information
from pipeline.data.filtering import kcore
from pipeline.data.interactions import IdIndex, Interactions, SplitData
from pipeline.data.sources import read_source
from pipeline.data.splitting import leave_last_out_split, temporal_split
from pipeline.evaluation.protocol import evaluate_ranking, warm_sets
from pipeline.models.registry import create_model
from pipeline.training.device import resolve_device, seed_everything

PROTOCOLS = {"temporal": lambda frame: temporal_split(frame, 0.1, 0.1), "loo": leave_last_out_split}


def reference_split(protocol: str, raw: Path) -> SplitData:
    tables = read_source("movietweetings", raw)
    parts = PROTOCOLS[protocol](kcore(tables.interactions, 5))
    index = IdIndex.from_frames(*parts.values())
    side = build_side_information(index, tables.items, tables.users)
    return SplitData(index=index, **{name: Interactions.from_frame(frame, index, side) for name, frame in parts.items()})


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="temporal")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a model setting")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--raw", type=Path, default=Path("data/raw"), help="the MovieTweetings files")
    parser.add_argument("--output", type=Path, help="append one JSON line per model to this file")
    args = parser.parse_args()
    params, device = load_params(), resolve_device(args.device)
    split = reference_split(args.protocol, args.raw)
    sets = warm_sets(split)
    print(f"protocol={args.protocol} device={device} torch threads={torch.get_num_threads()} "
          f"train={len(split.train):,} users={split.index.n_users:,} items={split.index.n_items:,}")
    print(f"{'model':<12}{'seconds':>9}{'epochs':>8}{'valid ndcg@10':>15}{'test ndcg@10':>14}{'recall@10':>11}{'hr@10':>8}")
    for name in args.models:
        settings = {**(params.models.get(name) or {}), **parse_overrides(args.set)}
        model_type = settings.get("model", name)
        seed_everything(params.seed)
        model = create_model(name, settings, split.index.n_users, split.index.n_items, device, params.seed)
        started = time.perf_counter()
        model.fit(split.train, split.valid)
        seconds = time.perf_counter() - started
        results = {
            part: evaluate_ranking(model, sets[part], [10], 1024, split.train.item_counts, split.index.n_users).summary
            for part in ("valid", "test")
        }
        epochs = len(getattr(model, "training_log", [])) or None
        row = {"model": name, "type": model_type, "protocol": args.protocol, "settings": settings,
               "seconds": round(seconds, 1), "epochs": epochs, "valid_ndcg@10": results["valid"]["ndcg@10"],
               **{f"test_{key}": results["test"][key] for key in ("ndcg@10", "recall@10", "hr@10")}}
        print(f"{name:<12}{seconds:>9.1f}{epochs or '-'!s:>8}{row['valid_ndcg@10']:>15.4f}"
              f"{row['test_ndcg@10']:>14.4f}{row['test_recall@10']:>11.4f}{row['test_hr@10']:>8.4f}", flush=True)
        if args.output:
            with args.output.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
