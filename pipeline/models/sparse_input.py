"""Interaction-matrix rows as sparse model inputs.

Models whose first layer reads a whole history row (n_items wide) or item column (n_users wide) pay
for every zero when the row is dense; a sparse product costs only the interactions, which is what
makes J-NCF's item network affordable and keeps the autoencoders' encoders fast on large catalogues.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def sparse_rows(matrix: sp.csr_matrix, rows: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows of `matrix` as a sparse COO tensor [len(rows), n_columns] on `device`."""
    block = matrix[np.asarray(rows.cpu() if isinstance(rows, torch.Tensor) else rows)].tocoo()
    indices = torch.from_numpy(np.vstack([block.row, block.col]).astype(np.int64))
    values = torch.from_numpy(block.data.astype(np.float32))
    # rows of a canonical CSR matrix come out sorted and duplicate-free: already coalesced
    return torch.sparse_coo_tensor(indices, values, block.shape, is_coalesced=True, check_invariants=False).to(device)


def drop_entries(rows: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Sparse COO rows (coalesced) without a random `rate` share of their stored entries, drawn on the CPU
    from `generator` so resumed runs match. Training on thinned histories teaches a history encoder
    what a short history, such as a new user's, looks like (the autoencoders' input dropout)."""
    if rate == 0:
        return rows
    return keep_entries(rows, (torch.rand(rows.values().shape, generator=generator) >= rate).to(rows.device))


def keep_entries(rows: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Sparse COO rows (coalesced) with only the stored entries where the boolean `keep` is set."""
    return torch.sparse_coo_tensor(rows.indices()[:, keep], rows.values()[keep], rows.shape, is_coalesced=True,
                                   check_invariants=False)


def normalize_rows(rows: torch.Tensor) -> torch.Tensor:
    """Sparse COO rows (coalesced) scaled to unit L2 norm; empty rows stay empty."""
    indices, values = rows.indices(), rows.values()
    norms = torch.zeros(rows.shape[0], device=values.device).index_add_(0, indices[0], values.pow(2)).sqrt()
    return torch.sparse_coo_tensor(indices, values / norms[indices[0]], rows.shape, is_coalesced=True,
                                   check_invariants=False)


def sparse_matmul(sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """`sparse @ dense` in float32, also under autocast (sparse products have no bf16 kernels)."""
    with torch.autocast(device_type=sparse.device.type, enabled=False):
        return torch.sparse.mm(sparse, dense.float())


def sparse_linear(inputs: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    """`layer(inputs)` for a sparse `inputs`."""
    return sparse_matmul(inputs, layer.weight.t()) + layer.bias.float()
