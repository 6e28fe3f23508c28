"""What every stage entry point shares: friendly failure instead of a traceback for user errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pydantic import ValidationError

USER_ERRORS = (ValueError, FileNotFoundError, ValidationError, RuntimeError)


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage; on a user-facing error print `<stage>: error: ...` and exit 1 so `dvc repro` stops."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s")
    try:
        main()
    except USER_ERRORS as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(1)
