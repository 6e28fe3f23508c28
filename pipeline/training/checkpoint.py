"""Per-epoch training checkpoints that let an interrupted run resume to the same result.

A checkpoint holds only tensors and plain numbers (loadable with `weights_only=True`) and a fingerprint
of the model configuration and training data; a checkpoint from another configuration, or from a run
that already finished, is never resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.data.interactions import Interactions

CHECKPOINT_FILE = "last.pt"


def fingerprint(name: str, config: dict[str, Any], train: Interactions) -> str:
    digest = hashlib.sha256(json.dumps({"model": name, "config": config}, sort_keys=True).encode())
    for array in (train.users, train.items, train.timestamps):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    """Write atomically so a crash mid-write never leaves a corrupt checkpoint behind."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, directory / CHECKPOINT_FILE)


def load_resumable(directory: Path | None, expected_fingerprint: str, device: torch.device) -> dict[str, Any] | None:
    if directory is None or not (directory / CHECKPOINT_FILE).exists():
        return None
    state = torch.load(directory / CHECKPOINT_FILE, map_location=device, weights_only=True)
    if state.get("fingerprint") != expected_fingerprint or state.get("finished"):
        return None
    return state
