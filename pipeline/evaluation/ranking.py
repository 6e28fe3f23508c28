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
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (user batch, top-k item indices) with items in `exclude` never recommended.

    Ties are broken by item index (stable sort) so results do not depend on the batch size.
    """
    model.module.eval()
    k = min(k, model.n_items)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score(torch.from_numpy(batch).to(model.device), context).float()
        known = rows_to_dense(exclude, batch, scores.device) > 0
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
) -> np.ndarray:
    parts = [items for _, items in iter_top_k(model, users, context, exclude, k, batch_size)]
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)
