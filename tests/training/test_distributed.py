"""Data-parallel training in the shared loop: two gloo processes on CPU, started the way torchrun starts
them (its environment variables), train one model together. They stay in lock step (same epochs, same
weights), rank 0 alone writes, the saved model loads, and validation NDCG@10 lands within DDP_TOLERANCE
of one process trained on the same data with the same settings.

Why a tolerance and not equality: each step averages the same number of examples as one process, but
the ranks group them differently and draw their own negatives and dropout masks, so the run is another
sample of the same training procedure. DDP_TOLERANCE comes from the spread over training seeds on this data
(docs/operations.md, "Multi-GPU and multi-node"): one-process runs of these settings over seeds 1-6 span
0.01 (Mult-VAE) to 0.10 (GMF) NDCG@10, and two-process runs average within 0.024 of them.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from pipeline.evaluation.protocol import validation_metric
from pipeline.models.registry import create_model, load_model
from pipeline.training import distributed
from pipeline.training.checkpoint import CHECKPOINT_FILE
from tests.models.planted import planted_split

WORLD_SIZE = 2
DDP_TOLERANCE = 0.05
SEED = 3
# one model per batching path: sampled negatives, user-history rows, sequence windows
SETTINGS = {
    "gmf": {"epochs": 8, "patience": 100, "batch_size": 128, "embedding_dim": 16, "learning_rate": 0.01},
    "multvae": {"epochs": 8, "patience": 100, "batch_size": 32, "hidden_sizes": [32], "latent_dim": 8,
                "learning_rate": 0.01},
    "gru4rec": {"epochs": 8, "patience": 100, "batch_size": 64, "embedding_dim": 16, "hidden_dim": 16,
                "max_length": 8, "learning_rate": 0.01},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_on_rank(rank: int, port: int, output: Path) -> None:
    """One torchrun process: the variables torchrun sets, the group the train stage joins, then each model."""
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(WORLD_SIZE),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    distributed.join_process_group(torch.device("cpu"))
    try:
        data = planted_split()
        for name, settings in SETTINGS.items():
            model = create_model(name, settings, data.index.n_users, data.index.n_items, "cpu", seed=SEED)
            model.checkpoint_dir = output / "checkpoints" / name / str(rank)
            model.fit(data.train, data.valid)
            weights = torch.cat([tensor.flatten().double() for tensor in model.module.state_dict().values()])
            (output / f"{name}.rank{rank}.json").write_text(json.dumps({
                "log": model.training_log, "stopped": model.stopped, "weights_sum": float(weights.sum()),
                "weights_norm": float(weights.norm()),
            }))
            if distributed.is_rank_zero():
                model.save(output / name)
    finally:
        distributed.leave_process_group()


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("ddp")
    mp.spawn(train_on_rank, args=(free_port(), output), nprocs=WORLD_SIZE, join=True)
    return output


def rank_results(output: Path, name: str) -> list[dict]:
    return [json.loads((output / f"{name}.rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]


@pytest.mark.parametrize(("examples", "batch_size", "world"), [(10, 4, 2), (11, 4, 2), (7, 5, 3), (1, 8, 2)])
def test_ranks_share_every_batch_evenly(examples: int, batch_size: int, world: int) -> None:
    order = torch.randperm(examples, generator=torch.Generator().manual_seed(0))
    shares = [distributed.share_of_batches(order, batch_size, torch.Generator().manual_seed(1), rank, world)
              for rank in range(world)]
    assert len({len(share) for share in shares}) == 1, "every rank takes the same number of steps"
    start = 0
    for parts in zip(*shares, strict=True):
        assert len({len(part) for part in parts}) == 1 and all(len(part) > 0 for part in parts)
        together = torch.stack(parts, dim=1).flatten()  # rank r holds every world-th example of the batch
        block = order[torch.arange(start, start + len(together)) % examples]  # padded by the order's start
        assert torch.equal(together, block), "a global batch is one block of the order, as in one process"
        start += len(together)
    seen = torch.cat([torch.cat(share) for share in shares])
    assert set(seen.tolist()) == set(range(examples)) and len(seen) - examples < world, "padding: < world repeats"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_ranks_train_in_lock_step_and_only_rank_zero_writes(ddp_run: Path, name: str) -> None:
    first, second = rank_results(ddp_run, name)
    decided = [[{key: value for key, value in record.items() if key != "seconds"} for record in result["log"]]
               for result in (first, second)]  # `seconds` is each rank's own clock; `elapsed` rank 0's
    assert decided[0] == decided[1], "every rank records the same epochs, losses, scores and elapsed time"
    assert len(first["log"]) == SETTINGS[name]["epochs"]
    assert first["weights_sum"] == second["weights_sum"] and first["weights_norm"] == second["weights_norm"]
    assert (ddp_run / "checkpoints" / name / "0" / CHECKPOINT_FILE).exists()
    assert not (ddp_run / "checkpoints" / name / "1").exists(), "only rank 0 writes checkpoints"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_ddp_validation_ndcg_is_within_tolerance_of_one_process(ddp_run: Path, name: str) -> None:
    data = planted_split()
    single = create_model(name, SETTINGS[name], data.index.n_users, data.index.n_items, "cpu", seed=SEED)
    single.fit(data.train, data.valid)
    single_score = validation_metric(single, data.train, data.valid)
    loaded = load_model(ddp_run / name)
    ddp_score = validation_metric(loaded, data.train, data.valid)
    best_logged = max(record["valid_ndcg@10"] for record in rank_results(ddp_run, name)[0]["log"])
    assert ddp_score == pytest.approx(best_logged, abs=1e-9), "the saved model is the best epoch's"
    assert abs(ddp_score - single_score) <= DDP_TOLERANCE, (name, ddp_score, single_score)
