"""Full-catalogue ranking shared by every model: batching, masking of known items, top-K."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from pipeline.models.base import Recommender, ScoringContext


def rows_to_dense(matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(matrix[rows].toarray()).to(device)


@torch.no_grad()
def iter_top_k(
    model: Recommender,
    users: np.ndarray,
    context: ScoringContext,
    exclude: sp.csr_matrix,
    k: int,
    batch_size: int,
    candidates: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (user batch, top-k item indices) with items in `exclude` never recommended and, when
    `candidates` (item indices) is given, only those items ranked.

    Ties are broken by item index (stable sort) so results do not depend on the batch size.
    """
    model.module.eval()
    k = min(k, model.n_items if candidates is None else len(candidates))
    blocked = None
    if candidates is not None:
        blocked = torch.ones(model.n_items, dtype=torch.bool, device=model.device)
        blocked[torch.from_numpy(candidates).to(model.device)] = False
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score(torch.from_numpy(batch).to(model.device), context).float()
        known = rows_to_dense(exclude, batch, scores.device) > 0
        if blocked is not None:
            known |= blocked
        scores = scores.masked_fill(known, float("-inf"))
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        yield batch, order.cpu().numpy()


def top_k(
    model: Recommender,
    users: np.ndarray,
    context: ScoringContext,
    exclude: sp.csr_matrix,
    k: int,
    batch_size: int = 1024,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    parts = [items for _, items in iter_top_k(model, users, context, exclude, k, batch_size, candidates)]
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)
