"""Prefect flow that retrains every recommender by replaying the DVC pipeline one stage at a time.

dvc.yaml stays the single source of truth for commands and dependencies: each task runs
`dvc repro <stage>`, so DVC decides what is stale and a nightly run on unchanged data is a cheap
no-op. Prefect adds what DVC lacks: a schedule, retries for flaky steps, a run history with the
stage output as logs, the leaderboard as artifacts in the UI, and a pause for a reviewer's answer when
a candidate waits for approval (flows/approval.py).

Run once from the repository root with `python -m flows.retrain` (see `flows/serve.py` to schedule).
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from flows.approval import review_pending_candidate
from pipeline import paths
from pipeline.stages.environment import DVC, stage_environment

PIPELINE_STAGES: tuple[str, ...] = (
    "ingest",
    "validate",
    "split",
    "train",
    "evaluate",
    "report",
    "register",
)
LEADERBOARD_MARKDOWN = paths.LEADERBOARD_MD
LEADERBOARD_CSV = paths.LEADERBOARD_CSV
PROMOTION_JSON = paths.PROMOTION_FILE
# Under .dvc/tmp so it lives next to DVC's own lock and is already git-ignored by `dvc init`.
LOCK_FILE = Path(".dvc/tmp/prefect-retrain.lock")
LOCK_WAIT_SECONDS = 60.0
STAGE_RETRIES = 3
STAGE_RETRY_DELAYS_SECONDS = [30, 120, 300]
VALIDATION_MARKER = "Data validation failed:"
# Output fragments of failures that a later attempt can succeed on: another DVC process holding
# the repository or an output, and network hiccups while a stage downloads data.
TRANSIENT_MARKERS: tuple[str, ...] = (
    "Unable to acquire lock",
    "is busy, it is being blocked by",
    "Temporary failure in name resolution",
    "Connection reset by peer",
    "Connection refused",
    "timed out",
)
FAILURE_TAIL_LINES = 30


class StageError(RuntimeError):
    """A stage failed in a way that rerunning it unchanged will not fix."""


class DataValidationError(StageError):
    """The `validate` stage rejected the data; later stages must not train on it."""


class TransientStageError(RuntimeError):
    """A stage failed for a reason that may go away on its own (a lock, the network)."""


class RetrainSummary(TypedDict):
    """What a flow run did, small enough to show as the flow run's result."""

    project_dir: str
    stages: list[str]
    reproduced: list[str]
    promotion: str | None
    review: str | None  # what a reviewer decided while the run paused (None: nothing waited for approval)


def is_transient_failure(task: Any, task_run: TaskRun, state: State) -> bool:
    """Prefect `retry_condition_fn`: retry only transient failures, so bad data fails at once."""
    return isinstance(state.result(raise_on_failure=False), TransientStageError)


@contextmanager
def project_lock(project_dir: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold an exclusive inter-process lock so two flow runs never run `dvc repro` at once.

    DVC's own lock fails after three seconds; waiting here first turns most collisions between a
    scheduled and a manual run into a short wait instead of a retry.
    """
    path = project_dir / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TransientStageError(
                        f"Another retrain run holds {path} after {wait_seconds:.0f}s of waiting."
                    ) from None
                time.sleep(min(1.0, wait_seconds))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_streaming(
    command: list[str], cwd: Path, logger: logging.Logger | logging.LoggerAdapter[Any],
    extra_env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run a command, logging each output line as it arrives; return the exit code and output."""
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cwd,
        env={**stage_environment(), **(extra_env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream keeps stderr messages next to the stdout they follow
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for raw_line in process.stdout:
            line = raw_line.rstrip()
            lines.append(line)
            if line:
                logger.info(line)
        returncode = process.wait()
    return returncode, "\n".join(lines)


def validation_failure_text(output: str) -> str | None:
    """The validation report from the marker to DVC's own error line, or None if absent."""
    lines = output.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if VALIDATION_MARKER in line and not line.startswith(">"):  # ">" echoes the stage command
            report = [VALIDATION_MARKER + line.split(VALIDATION_MARKER, 1)[1]]
            for following in lines[index + 1 :]:
                if following.startswith("ERROR:"):  # DVC's summary of the failed stage
                    break
                if following.strip():
                    report.append(following.rstrip())
            return "\n".join(report)
    return None


def classify_failure(stage: str, returncode: int, output: str) -> Exception:
    """Turn a failed `dvc repro` into the exception that tells Prefect whether to retry."""
    validation_report = validation_failure_text(output)
    if validation_report is not None:
        return DataValidationError(validation_report)
    tail = "\n".join(output.splitlines()[-FAILURE_TAIL_LINES:])
    if any(marker in output for marker in TRANSIENT_MARKERS):
        return TransientStageError(
            f"`dvc repro {stage}` hit a transient error (exit {returncode}):\n{tail}"
        )
    return StageError(f"`dvc repro {stage}` failed with exit code {returncode}:\n{tail}")


@task(
    task_run_name="dvc-repro-{stage}",
    retries=STAGE_RETRIES,
    retry_delay_seconds=STAGE_RETRY_DELAYS_SECONDS,
    retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,  # the point of the task is its side effects; DVC does the caching
)
def reproduce_stage(project_dir: str, stage: str) -> list[str]:
    """Run `dvc repro <stage>` and return the stages DVC actually re-ran (empty when up to date)."""
    logger = get_run_logger()
    root = Path(project_dir)
    with project_lock(root):
        command = [*DVC, "repro", stage]
        returncode, output = run_streaming(command, root, logger)
    if returncode != 0:
        raise classify_failure(stage, returncode, output)
    return re.findall(r"^Running stage '([^']+)':", output, flags=re.MULTILINE)


@task(cache_policy=NO_CACHE)
def publish_leaderboard(project_dir: str) -> None:
    """Show the leaderboard in the Prefect UI, as rendered Markdown and as a sortable table."""
    root = Path(project_dir)
    markdown_path, csv_path = root / LEADERBOARD_MARKDOWN, root / LEADERBOARD_CSV
    missing = [str(path) for path in (markdown_path, csv_path) if not path.is_file()]
    if missing:
        raise StageError(
            f"The report stage succeeded but did not write {', '.join(missing)}; "
            "check its outs in dvc.yaml."
        )
    create_markdown_artifact(
        markdown=markdown_path.read_text(encoding="utf-8"),
        key="leaderboard",
        description="Model leaderboard written by the report stage.",
    )
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    create_table_artifact(
        table=rows,
        key="leaderboard-table",
        description="Every model's metrics per regime, from reports/leaderboard.csv.",
    )


@flow(name="retrain-recommenders")
def retrain(project_dir: str = ".", stages: list[str] | None = None) -> RetrainSummary:
    """Reproduce the DVC pipeline stage by stage, strictly in order, and publish the leaderboard.

    Args:
        project_dir: Root of the DVC project (the folder holding dvc.yaml).
        stages: DVC stage or foreach-group names to reproduce, in order; defaults to the whole
            pipeline. Each runs as its own task so the UI shows where a run failed and how long
            each stage took.
    """
    root = Path(project_dir).resolve()
    if not (root / "dvc.yaml").is_file():
        raise FileNotFoundError(f"No dvc.yaml in {root}; pass project_dir=<the repository root>.")
    planned = list(stages) if stages is not None else list(PIPELINE_STAGES)
    reproduced: list[str] = []
    review = None
    for stage in planned:  # called directly, never submitted: one `dvc repro` at a time
        reproduced += reproduce_stage(str(root), stage)
        if stage == "report":
            publish_leaderboard(str(root))
        if stage == "register":
            review = review_pending_candidate(root)  # pauses the run while a candidate waits for approval
    promotion = root / PROMOTION_JSON
    return RetrainSummary(
        project_dir=str(root),
        stages=planned,
        reproduced=reproduced,
        promotion=str(promotion) if promotion.is_file() else None,
        review=review,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the flow once, e.g. `python -m flows.retrain --stages ingest validate`."""
    parser = argparse.ArgumentParser(description="Run the retrain flow once.")
    parser.add_argument("--project-dir", default=".", help="DVC project root (default: .)")
    parser.add_argument(
        "--stages", nargs="+", help=f"stages in order (default: {' '.join(PIPELINE_STAGES)})"
    )
    args = parser.parse_args(argv)
    print(retrain(project_dir=args.project_dir, stages=args.stages))


if __name__ == "__main__":
    main()
