"""What every stage entry point shares: friendly failure instead of a traceback for user errors, and a
record of the stage's wall time for the report."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable

from pydantic import ValidationError

from pipeline import paths

USER_ERRORS = (ValueError, FileNotFoundError, ValidationError, RuntimeError)


def stage_id(name: str) -> str:
    """`train` run as `python -m pipeline.stages.train ease` is the DVC stage `train@ease`."""
    return f"{name}@{sys.argv[1]}" if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else name


def timing_file(stage: str):
    return paths.TIMINGS_DIR / f"{stage}.json"


def run_stage(name: str, main: Callable[[], int | None]) -> None:
    """Run a stage; on a user-facing error print `<stage>: error: ...` and exit 1 so `dvc repro` stops."""
    stage = stage_id(name)
    logging.basicConfig(level=logging.WARNING, format=f"[{stage}] %(message)s")
    for ours in ("pipeline", "__main__"):  # our progress (stages run as __main__), not every library's chatter
        logging.getLogger(ours).setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        status = main() or 0
    except USER_ERRORS as error:
        print(f"{stage}: error: {error}", file=sys.stderr)
        sys.exit(1)
    if status == 0 and os.environ.get("RANK", "0") == "0":  # under torchrun (train), one timing: rank 0's
        paths.TIMINGS_DIR.mkdir(parents=True, exist_ok=True)
        timing = {"stage": stage, "seconds": round(time.perf_counter() - started, 3)}
        timing_file(stage).write_text(json.dumps(timing) + "\n", encoding="utf-8")
    sys.exit(status)
