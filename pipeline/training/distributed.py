"""Data-parallel training of one model across processes started by `torchrun` (several GPUs or nodes).

`torchrun --nproc_per_node N -m pipeline.stages.train <model>` starts N copies of the stage and sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `join_process_group` reads them. The shared
loop (pipeline/training/trainer.py) then keeps every rank in lock step with the helpers below:

- each rank computes its share of every mini-batch (`share_of_batches`), so a step still averages over
  `batch_size` examples and an epoch has as many steps as in one process: the same settings mean the
  same optimisation, whatever the number of processes;
- gradients are averaged with one all-reduce before every optimiser step (`average_gradients`). This is
  explicit rather than `DistributedDataParallel`, whose hooks fire only for calls through
  `module.forward`: our models call their sub-modules and embedding tables directly;
- every decision that ends training (validation score, elapsed time) is rank 0's, broadcast, so all ranks
  run the same number of epochs and steps and none waits forever in a collective;
- only rank 0 writes checkpoints and the trained model.

Outside torchrun every helper is a no-op, so one process trains exactly as before.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join_process_group(device: torch.device) -> torch.device:
    """Join the process group torchrun set up (nccl on CUDA, gloo on CPU); returns this rank's device
    (its own GPU, `cuda:<LOCAL_RANK>`, on CUDA)."""
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f"distributed training needs torchrun's environment; missing {', '.join(missing)}: "
                           "start it as `torchrun --nproc_per_node N -m pipeline.stages.train <model>`")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_rank_zero() -> bool:
    return rank() == 0


def _collective_device() -> torch.device:
    """nccl only moves CUDA tensors; gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def rank_zero_value(compute: Callable[[], float]) -> float:
    """Rank 0's `compute()`, on every rank; the others wait for it instead of computing it again."""
    if world_size() == 1:
        return compute()
    value = torch.tensor([compute() if is_rank_zero() else 0.0], dtype=torch.float64, device=_collective_device())
    dist.broadcast(value, src=0)
    return float(value.item())


def mean_over_ranks(value: float) -> float:
    if world_size() == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(total)
    return float(total.item()) / world_size()


def broadcast_module(module: torch.nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers (a resumed checkpoint included)."""
    if world_size() == 1:
        return
    for tensor in module.state_dict().values():
        staged = tensor.to(_collective_device())
        dist.broadcast(staged, src=0)
        tensor.copy_(staged)


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """Replace each gradient by its mean over ranks, in one all-reduce of a flat buffer.

    A parameter some rank left without a gradient (a data-dependent branch) takes zeros there; one that
    no rank touched keeps `None`, so Adam still skips it (RecVAE's alternating updates rely on that).
    """
    if world_size() == 1:
        return
    trainable = [parameter for parameter in parameters if parameter.requires_grad]
    device = _collective_device()
    touched = torch.tensor([parameter.grad is not None for parameter in trainable], dtype=torch.int32, device=device)
    dist.all_reduce(touched, op=dist.ReduceOp.MAX)
    used = [parameter for parameter, flag in zip(trainable, touched.tolist(), strict=True) if flag]
    if not used:
        return
    for parameter in used:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    flat = torch.cat([parameter.grad.reshape(-1).to(device, torch.float32) for parameter in used])
    dist.all_reduce(flat)
    flat /= world_size()
    for parameter, mean in zip(used, flat.split([parameter.numel() for parameter in used]), strict=True):
        parameter.grad.copy_(mean.view_as(parameter.grad))


def share_of_batches(order: torch.Tensor, batch_size: int, generator: torch.Generator, rank: int,
                     world: int) -> list[torch.Tensor]:
    """Rank `rank`'s part of each mini-batch of `order`, a permutation all `world` ranks drew alike.

    The order is padded by repeating its start (as torch's DistributedSampler does: at most
    world_size - 1 examples twice an epoch) so every rank gets equally many examples and steps; rank r
    takes every world_size-th example, so global batch j is one contiguous block of the padded order,
    world_size * ceil(batch_size / world_size) examples. Afterwards the generator is reseeded per rank,
    so the ranks' per-example draws (negatives, dropout) differ; `synchronise_generator` realigns them
    before the next permutation.
    """
    total = math.ceil(len(order) / world) * world
    padded = order[torch.arange(total) % len(order)] if len(order) else order
    per_rank = math.ceil(batch_size / world)
    reseed = int(torch.randint(2**62, (1,), generator=generator))
    generator.manual_seed(reseed + rank)
    return list(padded[rank::world].split(per_rank))


def synchronise_generator(generator: torch.Generator) -> None:
    """Give every rank rank 0's generator state, so the next permutation is the same everywhere."""
    if world_size() == 1:
        return
    state = generator.get_state().to(_collective_device())
    dist.broadcast(state, src=0)
    generator.set_state(state.cpu())
