"""Prefect flow that trains independent models in parallel on a Dask cluster, with one DVC process
recording the results.

DVC holds one lock per workspace, so two `dvc repro train@<model>` cannot run in one workspace at once.
The train stages of different models write disjoint outputs, though, so the flow does what `dvc repro`
would do for each, minus the locking: it asks DVC which `train@` stages are stale (their deps, params or
outs changed) and for their commands, clears their outputs as `dvc repro` does, runs the commands
concurrently as Prefect tasks on the task runner's workers, and then records them all with ONE
`dvc commit` (the workspace is held under the retrain flow's lock throughout). A later `dvc repro` sees
them up to date. The stages before and after training run through the retrain flow (flows/retrain.py)
as subflows, one stage at a time.

    python -m flows.parallel_train --workers 2              # a LocalCluster of 2 workers on this machine
    python -m flows.parallel_train --address tcp://scheduler:8786 --threads 8   # an existing Dask cluster

Each model's torch uses `threads` threads (OMP_NUM_THREADS): by default this machine's cores divided by
the workers, so the workers do not oversubscribe the CPU. Seeds make each model's result independent of
what trains beside it: metrics equal those of a sequential `dvc repro`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from dvc.repo import Repo
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect_dask import DaskTaskRunner

from flows.retrain import (
    DVC,
    FAILURE_TAIL_LINES,
    PIPELINE_STAGES,
    StageError,
    project_lock,
    retrain,
    run_streaming,
)

TRAIN_GROUP = "train"
SHELL = os.environ.get("SHELL", "/bin/sh")  # stage commands are shell command lines, as DVC runs them


class ParallelRetrainSummary(TypedDict):
    project_dir: str
    stages: list[str]
    reproduced: list[str]
    train_seconds: dict[str, float]
    promotion: str | None


@dataclass(frozen=True)
class StageCommand:
    name: str
    command: str


def stale_stages(root: Path, group: str = TRAIN_GROUP) -> list[StageCommand]:
    """The stages of a foreach group that `dvc repro` would rerun, with their commands as DVC resolves
    them; their outputs are cleared as `dvc repro` clears them (persistent ones, the checkpoints, stay)."""
    # DVC resolves `foreach: ${models}` from the params.yaml of the working directory, not of the repository
    with contextlib.chdir(root), Repo(str(root)) as repo:
        stale = repo.status(targets=[group])
        stages = [stage for stage in repo.stage.collect(group) if stage.addressing in stale]
        with repo.lock:  # DVC's own lock, released before the commands run
            for stage in stages:
                stage.remove_outs(ignore_remove=False)
        return [StageCommand(stage.addressing, stage.cmd) for stage in stages]


def thread_environment(threads: int | None) -> dict[str, str]:
    """Thread caps for torch and the BLAS libraries of one model's process; empty leaves their default."""
    return {} if threads is None else {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@task(task_run_name="{stage}", cache_policy=NO_CACHE)  # the side effects are the point; DVC does the caching
def run_stage_command(project_dir: str, stage: str, command: str, threads: int | None) -> float:
    """Run one stage's command in the project (on a Dask worker); returns its wall time in seconds."""
    started = time.perf_counter()
    returncode, output = run_streaming([SHELL, "-c", command], Path(project_dir), get_run_logger(),
                                       extra_env=thread_environment(threads))
    if returncode != 0:
        tail = "\n".join(output.splitlines()[-FAILURE_TAIL_LINES:])
        raise StageError(f"`{command}` ({stage}) failed with exit code {returncode}:\n{tail}")
    return time.perf_counter() - started


def train_stale_in_parallel(project_dir: str, threads: int | None) -> dict[str, float]:
    """Train every stale `train@` stage concurrently on the flow's task runner, then record the ones that
    succeeded with one DVC process (so a failure in one model keeps the others' work); fails if any stage
    failed. Runs in the flow itself, so the workspace lock is held by the one process that runs DVC."""
    root, logger = Path(project_dir), get_run_logger()
    with project_lock(root):
        planned = stale_stages(root)
        logger.info("stale training stages: %s", ", ".join(stage.name for stage in planned) or "none")
        futures = {stage.name: run_stage_command.submit(project_dir, stage.name, stage.command, threads)
                   for stage in planned}
        wait(list(futures.values()))
        seconds = {name: future.result() for name, future in futures.items() if future.state.is_completed()}
        if seconds:
            returncode, output = run_streaming([*DVC, "commit", "--force", *seconds], root, logger)
            if returncode != 0:
                raise StageError(f"`dvc commit` of {', '.join(seconds)} failed with exit code {returncode}:\n"
                                 + "\n".join(output.splitlines()[-FAILURE_TAIL_LINES:]))
    failed = [name for name in futures if name not in seconds]
    if failed:
        raise StageError(f"training failed for {', '.join(failed)} (their logs are in the task runs); "
                         f"{', '.join(seconds) or 'no stage'} trained and recorded")
    return seconds


def dask_task_runner(workers: int, address: str | None) -> DaskTaskRunner:
    """A LocalCluster of `workers` single-threaded worker processes, or the existing cluster at `address`."""
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})


@flow(name="parallel-retrain-recommenders", task_runner=dask_task_runner(workers=2, address=None))
def parallel_retrain(project_dir: str = ".", stages: list[str] | None = None,
                     threads: int | None = None) -> ParallelRetrainSummary:
    """The retrain flow with the training stages run in parallel on this flow's task runner.

    Args:
        project_dir: Root of the DVC project (the folder holding dvc.yaml).
        stages: Stages in order, as for the retrain flow; `train` trains every stale model in parallel.
        threads: torch/BLAS threads per model (None: their default).
    """
    planned = list(stages) if stages is not None else list(PIPELINE_STAGES)
    root = str(Path(project_dir).resolve())
    before = planned[: planned.index(TRAIN_GROUP)] if TRAIN_GROUP in planned else planned
    after = planned[planned.index(TRAIN_GROUP) + 1 :] if TRAIN_GROUP in planned else []
    reproduced = retrain(project_dir=root, stages=before)["reproduced"] if before else []
    seconds = train_stale_in_parallel(root, threads) if TRAIN_GROUP in planned else {}
    summary = retrain(project_dir=root, stages=after) if after else None
    return ParallelRetrainSummary(
        project_dir=root, stages=planned, reproduced=[*reproduced, *seconds, *(summary or {}).get("reproduced", [])],
        train_seconds=seconds, promotion=summary["promotion"] if summary else None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the retrain flow once, training models in parallel.")
    parser.add_argument("--project-dir", default=".", help="DVC project root (default: .)")
    parser.add_argument("--stages", nargs="+", help=f"stages in order (default: {' '.join(PIPELINE_STAGES)})")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers: models trained at once")
    parser.add_argument("--address", help="an existing Dask scheduler, e.g. tcp://scheduler:8786 (ignores --workers)")
    parser.add_argument("--threads", type=int, help="threads per model (default: local cores / workers)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    threads = args.threads or (None if args.address else max(1, (os.cpu_count() or 1) // args.workers))
    run = parallel_retrain.with_options(task_runner=dask_task_runner(args.workers, args.address))
    print(run(project_dir=args.project_dir, stages=args.stages, threads=threads))


if __name__ == "__main__":
    main()
