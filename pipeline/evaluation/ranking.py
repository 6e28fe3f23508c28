"""Full-catalogue ranking shared by every model: batching, masking of known items, top-K.

Memory is bounded by batch x item chunk, never batch x catalogue (beyond what a model's own `score`
holds): scores arrive one item range at a time (`Recommender.iter_item_scores`), known items are set
to -inf from the CSR's indices, the range's own top-K is taken and merged with the running top-K of
the ranges before it. Order is score descending, ties by item index, exactly as a stable sort of the
full row, so results depend on neither the batch nor the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from pipeline.models.base import Recommender, ScoringContext

ITEM_CHUNK_SIZE = 16_384  # items scored at once per user batch: bounds the [batch, chunk] tensors


def stable_top_k(values: torch.Tensor, k: int) -> torch.Tensor:
    """Column positions of the k largest values per row, ordered by value descending then position
    ascending: the first k of a stable descending sort, at the cost of a top-(k+1) and a sort of k.

    `torch.topk` picks arbitrarily among values tied with the k-th; where the (k+1)-th value equals the
    k-th such ties cross the cut, and those rows are re-chosen: every value above, then the leftmost tied."""
    k = min(k, values.shape[1])
    top = torch.topk(values, min(k + 1, values.shape[1]), dim=1)
    positions = top.indices[:, :k]
    if top.values.shape[1] > k:
        kth = top.values[:, k - 1 : k]
        crossing = (top.values[:, k : k + 1] == kth).nonzero()[:, 0]
        if len(crossing) == len(values):
            positions = leftmost_top_k(values, kth, k)
        elif len(crossing):
            positions = positions.clone()
            positions[crossing] = leftmost_top_k(values[crossing], kth[crossing], k)
    positions = positions.sort(dim=1).values
    order = torch.sort(values.gather(1, positions), dim=1, descending=True, stable=True).indices
    return positions.gather(1, order)


def leftmost_top_k(values: torch.Tensor, kth: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of every value above `kth` and of the leftmost values equal to it, k per row: one top-k
    of a key that puts values above first and ties in ascending position (exact in float32 up to 2^24)."""
    dtype = torch.float32 if values.shape[1] < 2**24 else torch.float64
    key = (-torch.arange(values.shape[1], dtype=dtype, device=values.device)).expand_as(values)
    key = key.masked_fill(values != kth, float("-inf")).masked_fill_(values > kth, 1.0)
    return torch.topk(key, k, dim=1, sorted=False).indices


def known_entries(exclude: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch row, item) of every positive entry of `exclude` for `rows`: the items to mask."""
    block = exclude[rows]
    batch_rows = np.repeat(np.arange(len(rows)), np.diff(block.indptr))
    positive = block.data > 0
    return torch.from_numpy(batch_rows[positive]).to(device), torch.from_numpy(block.indices[positive]).to(device)


@torch.no_grad()
def iter_top_k(
    model: Recommender,
    users: np.ndarray,
    context: ScoringContext,
    exclude: sp.csr_matrix,
    k: int,
    batch_size: int,
    candidates: np.ndarray | None = None,
    item_chunk_size: int = ITEM_CHUNK_SIZE,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (user batch, top-k item indices) with items in `exclude` never recommended and, when
    `candidates` (item indices) is given, only those items ranked."""
    model.module.eval()
    k = min(k, model.n_items if candidates is None else len(candidates))
    blocked = None
    if candidates is not None:
        blocked = torch.ones(model.n_items, dtype=torch.bool, device=model.device)
        blocked[torch.from_numpy(candidates).to(model.device)] = False
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        known_rows, known_items = known_entries(exclude, batch, model.device)
        best_scores = torch.empty((len(batch), 0), device=model.device)
        best_items = torch.empty((len(batch), 0), dtype=torch.long, device=model.device)
        for items, scores in model.iter_item_scores(torch.from_numpy(batch).to(model.device), context, item_chunk_size):
            scores = scores.float().clone()  # a model may hand out a view of its own buffers
            in_range = (known_items >= items.start) & (known_items < items.stop)
            scores[known_rows[in_range], known_items[in_range] - items.start] = float("-inf")
            if blocked is not None:
                scores.masked_fill_(blocked[items], float("-inf"))
            # the range's own top-k, then merged behind the running best: that holds lower item indices,
            # so on ties its items stay first, as in one stable sort of the whole row
            chosen = stable_top_k(scores, k)
            if torch.isnan(scores.gather(1, chosen[:, :1])).any():  # top-k ranks NaN above every number
                raise ValueError(f"model '{model.name}' produced NaN scores: it diverged or was loaded incompletely")
            pooled_scores = torch.cat([best_scores, scores.gather(1, chosen)], dim=1)
            pooled_items = torch.cat([best_items, chosen + items.start], dim=1)
            merged = stable_top_k(pooled_scores, k)
            best_scores, best_items = pooled_scores.gather(1, merged), pooled_items.gather(1, merged)
        yield batch, best_items.cpu().numpy()


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
