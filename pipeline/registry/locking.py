"""One writer at a time for promotion decisions: an inter-process lock scoped to the tracking store.

Reading the champion, deciding and moving aliases must be one step: two register runs that both read
"no champion" (or the same champion) would each promote their own winner, and the registry would end
with tags that contradict its aliases. For a store on this machine's file system (a SQLite database or
a `file:` store) the lock is a file beside the store, so every process using that store, whichever
directory it runs from, takes the same lock. A remote tracking server (http, databricks) offers no
lock; there one scheduler must own promotion (docs/operations.md), and the stage says so in its log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)
LOCK_SUFFIX = ".promotion.lock"


def lock_path(tracking_uri: str) -> Path | None:
    """The lock file for a store on the local file system; None for a remote server."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        database = tracking_uri.removeprefix("sqlite:///")  # sqlite:////abs/path keeps its leading slash
        if not database or database == ":memory:":
            return None
        path = Path(database)
        return path.with_name(path.name + LOCK_SUFFIX)
    if parsed.scheme in ("", "file"):
        store = Path(parsed.path if parsed.scheme == "file" else tracking_uri)
        return store / LOCK_SUFFIX.lstrip(".")
    return None


@contextmanager
def registry_lock(tracking_uri: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the store's promotion lock (waiting up to `timeout_seconds` for another holder)."""
    path = lock_path(tracking_uri)
    if path is None:
        log.warning("%s is a remote tracking server: promotion decisions are not locked, so run one register "
                    "stage at a time against it", tracking_uri)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(path, timeout=timeout_seconds):
            yield
    except Timeout:
        raise RuntimeError(
            f"another process has held the promotion lock {path} for {timeout_seconds:.0f}s (a register stage or a "
            "`recsys approve/reject/rollback`); wait for it to finish or raise registry.lock_timeout_seconds"
        ) from None
