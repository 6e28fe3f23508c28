"""Turning a scoring context's history into model inputs, shared by history-based models."""

from __future__ import annotations

import torch

from pipeline.models.base import ScoringContext


def history_rows(users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
    """Dense binary history rows [len(users), n_items] on the users' device."""
    rows = context.history.csr[users.cpu().numpy()]
    return torch.from_numpy(rows.toarray()).to(users.device)
