"""Publishing a folder all at once: it is written beside its final place and renamed into it, so a reader
(or the next stage) sees the old complete folder or the new complete one, never a half-written one."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """An empty sibling folder of `target` to write into. If the block succeeds it replaces `target`;
    if it raises, it is removed and `target` is left as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(target, "partial")
    try:
        yield staging
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(staging: Path, target: Path) -> None:
    """Two renames on one file system; the old folder is deleted only once the new one is in place."""
    if not target.exists():
        os.rename(staging, target)
        return
    retired = _sibling(target, "old")
    os.rename(target, retired / target.name)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(retired / target.name, target)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def _sibling(target: Path, kind: str) -> Path:
    """A new hidden folder beside `target` (same file system, so renames are atomic; usual permissions)."""
    folder = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.{kind}"
    folder.mkdir()
    return folder
