"""The RecBole half of benchmarks/recbole_side_by_side.py: runs inside RecBole's own virtualenv, never ours.

    /tmp/recbole-venv/bin/python benchmarks/recbole_runner.py --atomic-dir DIR --model BPR --epochs 10 \
        --patience 5 --learning-rate 0.01 --batch-size 2048 --embedding-size 64 --threads 1 --result result.json

Trains one RecBole model on the exported atomic files (benchmark_filename train/valid/test: RecBole's own
splitting and filtering are off), early-stopping on validation NDCG@10 and testing the best epoch's
weights like our trainer, and writes to
`--result` (JSON): seconds of every training epoch (validation excluded), seconds of RecBole's own full-ranking
test evaluation and its NDCG@10, and each test user's top-50 under OUR masking (every train + valid item
of the user, a repeat included), so that the caller scores both libraries' lists with one metrics code.
Imports only RecBole and its dependencies: this file is not part of the `pipeline` package.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.utils import get_model, get_trainer, init_seed

SEQUENTIAL = {"GRU4Rec", "SASRec"}
TOP = 50


def config_for(args: argparse.Namespace) -> Config:
    sequential = args.model in SEQUENTIAL
    settings = {
        "data_path": str(args.atomic_dir),
        "dataset": "warm_seq" if sequential else "warm",
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"] if sequential else ["user_id", "item_id"]},
        "MAX_ITEM_LIST_LENGTH": args.max_length,
        "eval_args": {"mode": "full", "order": "TO", "group_by": "user"},
        "metrics": ["NDCG", "Recall"], "topk": [10], "valid_metric": "NDCG@10",
        "epochs": args.epochs, "stopping_step": args.patience, "eval_step": 1,
        "learning_rate": args.learning_rate, "train_batch_size": args.batch_size, "eval_batch_size": 4096,
        "embedding_size": args.embedding_size, "hidden_size": args.embedding_size,
        "seed": args.seed, "reproducibility": True, "device": "cpu", "use_gpu": False,
        "show_progress": False, "checkpoint_dir": str(args.atomic_dir / "saved"), "log_wandb": False,
    }
    if args.model == "NeuMF":  # pointwise log loss on sampled negatives, 4 per positive as our NeuMF
        settings["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": 4, "alpha": 1.0,
                                             "dynamic": False, "candidate_num": 0}
    elif args.model != "BPR":  # softmax / multinomial losses rank the whole catalogue: no sampled negatives
        settings["train_neg_sample_args"] = None
    if sequential:
        settings["loss_type"] = "CE"
    return Config(model=args.model, config_dict=settings)


def known_items(dataset, atomic_dir: Path) -> dict[int, set[int]]:
    """Internal user id -> internal ids of every train and valid item (from the general-format files)."""
    known: dict[int, set[int]] = {}
    for part in ("train", "valid"):
        lines = (atomic_dir / "warm" / f"warm.{part}.inter").read_text(encoding="utf-8").splitlines()[1:]
        # a sequential dataset knows only the users and items of its sequence files: the others are never ranked
        pairs = [(user, item) for user, item in (line.split("\t")[:2] for line in lines)
                 if user in dataset.field2token_id["user_id"] and item in dataset.field2token_id["item_id"]]
        users = dataset.token2id("user_id", [user for user, _ in pairs])
        items = dataset.token2id("item_id", [item for _, item in pairs])
        for user, item in zip(users.tolist(), items.tolist(), strict=True):
            known.setdefault(user, set()).add(item)
    return known


def all_item_scores(model, interaction, n_items: int) -> torch.Tensor:
    """[users, items] scores; models without `full_sort_predict` (NeuMF) score every (user, item) pair
    with `predict`, as RecBole's own full-sort evaluator does for them."""
    try:
        return model.full_sort_predict(interaction).view(len(interaction), -1)
    except NotImplementedError:
        users = interaction["user_id"].repeat_interleave(n_items)
        items = torch.arange(n_items).repeat(len(interaction))
        pairs = Interaction({"user_id": users, "item_id": items})
        return model.predict(pairs).view(len(interaction), n_items)


@torch.no_grad()
def masked_top_lists(model, test_data, dataset, known: dict[int, set[int]]) -> dict[str, list[str]]:
    model.eval()
    tops: dict[str, list[str]] = {}
    for interaction, *_ in test_data:
        scores = all_item_scores(model, interaction, dataset.item_num).float()
        scores[:, 0] = -np.inf  # RecBole's padding item
        users = interaction["user_id"].tolist()
        for row, user in enumerate(users):
            scores[row, list(known.get(user, ()))] = -np.inf
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :TOP]
        for user, items in zip(users, order.tolist(), strict=True):
            tops[str(dataset.id2token("user_id", user))] = [str(token) for token in dataset.id2token("item_id", items)]
    return tops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atomic-dir", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--patience", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = config_for(args)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    epoch_seconds: list[float] = []
    train_epoch = trainer._train_epoch

    def timed_epoch(*positional, **keywords):
        started = time.perf_counter()
        out = train_epoch(*positional, **keywords)
        epoch_seconds.append(time.perf_counter() - started)
        return out

    # the best epoch's weights stay in memory: RecBole's own checkpoint is a pickle that torch >= 2.6
    # refuses to load with weights_only (and we would not load a pickle anyway)
    best_state: dict[str, torch.Tensor] = {}

    def keep_best(*_, **__) -> None:
        best_state.update(copy.deepcopy(trainer.model.state_dict()))

    trainer._train_epoch, trainer._save_checkpoint = timed_epoch, keep_best
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    trainer.model.load_state_dict(best_state)
    started = time.perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    evaluation_seconds = time.perf_counter() - started
    tops = masked_top_lists(trainer.model, test_data, dataset, known_items(dataset, args.atomic_dir))
    args.result.write_text(json.dumps({
        "epoch_seconds": epoch_seconds, "evaluation_seconds": evaluation_seconds,
        "native_ndcg@10": float(test_result["ndcg@10"]), "top": tops,
    }), encoding="utf-8")


if __name__ == "__main__":
    main()
