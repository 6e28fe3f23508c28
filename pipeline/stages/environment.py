"""How DVC is invoked from our own tools (the `recsys` CLI, the Prefect flow)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# dvc from this interpreter, whatever is first on PATH
DVC = (sys.executable, "-m", "dvc")


def stage_environment() -> dict[str, str]:
    """Environment for stage commands: `python` and `dvc` resolve to this interpreter's venv.

    A served flow or a `recsys run` is often started without activating the virtualenv, and a bare
    `python` in a dvc.yaml command would then pick a system interpreter without the project installed.
    """
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"  # stream training progress as it happens
    return env
