"""Losses over sampled negatives, shared by training and cold-user fold-in so both optimise the same
objective. Every function takes positive logits [n] and negative logits [n, k]."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pointwise_log_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with observed pairs labelled 1 and sampled negatives 0, averaged over all
    n (1 + k) instances: the NCF objective (He et al. 2017, eq. 7)."""
    total = F.softplus(-positive).sum() + F.softplus(negative).sum()
    return total / (positive.numel() + negative.numel())


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(s_pos - s_neg) averaged over every (positive, negative) pair (Rendle et al. 2009)."""
    return -F.logsigmoid(positive.unsqueeze(1) - negative).mean()
