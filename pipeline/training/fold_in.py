"""Cold-user fold-in for models with per-user parameters (BPR, GMF, MLP, NeuMF, CDAE).

A user absent from training has an untrained embedding row. Fold-in starts every such row at the
mean row of the trained users who share the revealed items (their "audience"), shrunk toward a prior
row: the population mean, or for models trained with user-ID dropout (as in DropoutNet, Volkovs et
al. 2017) the learned "unknown user" row. It then fits the row to the user's revealed interactions
against sampled negatives with every other parameter frozen: a MAP estimate with a Gaussian prior
centred on that start. The steps are full-batch and seeded, so fold-in is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig
from pipeline.training.negatives import NegativeSampler

PRIOR_USERS = 1.0  # default weight of the prior row in the starting point, in users
PairLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(users [n], items [n, m]) -> logits [n, m], differentiable in the user tables."""
SampledLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(positive logits [n], negative logits [n, k]) -> scalar, see pipeline.training.objectives."""


class FoldInConfig(ModelConfig):
    """Fold-in settings, mixed into the config of every model that folds in user embeddings."""

    fold_in_steps: int = Field(50, ge=0, description="full-batch Adam steps on the revealed interactions")
    fold_in_learning_rate: float = Field(0.05, gt=0)
    fold_in_negatives: int = Field(4, ge=1, description="sampled negatives per revealed interaction and step")
    fold_in_l2: float = Field(10.0, ge=0, description="pull toward the starting point, per revealed interaction")
    fold_in_prior_users: float = Field(PRIOR_USERS, gt=0, description="weight of the prior user (population mean, or "
                                       "the unknown user of user-ID dropout) in the starting point, in users: "
                                       "higher stays closer to the average taste")


@torch.no_grad()
def reset_to_audience_mean(tables: Sequence[torch.nn.Embedding], users: np.ndarray, history: Interactions,
                           prior_users: float = PRIOR_USERS, unknown_user_prior: bool = False) -> None:
    """Set the rows of `users` to the mean row of their items' audience: the trained users who share
    their revealed items, each weighted by how many they share, plus a prior row with the weight of
    `prior_users` users (it alone decides for users who revealed nothing). The prior row is the
    population mean, or with `unknown_user_prior` each table's last row (see `drop_user_ids`).

    The prior user ranks roughly by popularity; the audience mean already ranks by what people with
    the same first items went on to like, which is the best guess before any fitting.
    """
    matrix = history.csr
    trained = np.diff(matrix.indptr) > 0
    trained[users] = False
    if not trained.any():
        return
    shared = (matrix[users] @ matrix[trained].T).tocsr()  # [cold users, trained users] co-occurrence counts
    totals = np.asarray(shared.sum(axis=1)).ravel()[:, None] + prior_users
    for table in tables:
        weights = table.weight.detach().cpu().numpy()[: len(trained)][trained]  # past len: an unknown-user row
        prior = table.weight[-1].detach().cpu().numpy() if unknown_user_prior else weights.mean(axis=0)
        rows = (shared @ weights + prior_users * prior) / totals
        table.weight[torch.from_numpy(users).to(table.weight.device)] = torch.from_numpy(rows.astype(np.float32)).to(
            table.weight.device, table.weight.dtype)


def drop_user_ids(users: torch.Tensor, rate: float, unknown_user: int,
                  generator: torch.Generator | None) -> torch.Tensor:
    """User-ID dropout: each user index becomes `unknown_user` with probability `rate`, so that row learns
    what the model should predict for someone it knows nothing about (the fold-in prior for new users).
    Draws on the CPU from `generator` (None: torch's global generator), whatever the device."""
    if rate == 0:
        return users
    dropped = (torch.rand(len(users), generator=generator) < rate).to(users.device)
    return torch.where(dropped, torch.full_like(users, unknown_user), users)


def fold_in_user_embeddings(
    module: torch.nn.Module,
    tables: Sequence[torch.nn.Embedding],
    users: np.ndarray,
    history: Interactions,
    pair_logits: PairLogits,
    loss: SampledLoss,
    config: FoldInConfig,
    seed: int,
    unknown_user_prior: bool = False,
) -> None:
    """Fit the rows of `users` in `tables` to their interactions in `history`; nothing else changes.

    The fit starts from the audience mean, shrunk toward the unknown-user row when `unknown_user_prior`
    (tables with one extra row trained by `drop_user_ids`). Only the listed rows receive gradients, so
    Adam leaves every other row exactly as it was (its moment estimates for them stay zero).
    """
    users = np.unique(np.asarray(users, dtype=np.int64))
    reset_to_audience_mean(tables, users, history, config.fold_in_prior_users, unknown_user_prior)
    revealed = history.csr[users]
    device = tables[0].weight.device
    pair_users = torch.from_numpy(np.repeat(users, np.diff(revealed.indptr))).to(device)
    pair_items = torch.from_numpy(revealed.indices.astype(np.int64)).to(device)
    if config.fold_in_steps == 0 or len(pair_users) == 0:
        return
    rows = torch.from_numpy(users).to(device)
    priors = [table.weight[rows].detach().clone() for table in tables]
    sampler = NegativeSampler(history, torch.Generator().manual_seed(seed))
    was_training = module.training
    trainable = {parameter: parameter.requires_grad for parameter in module.parameters()}
    module.eval()  # no dropout: the frozen network is used exactly as it will score
    module.requires_grad_(False)
    weights = [table.weight.requires_grad_(True) for table in tables]
    optimizer = torch.optim.Adam(weights, lr=config.fold_in_learning_rate)
    try:
        with torch.enable_grad():  # callers may hold no_grad (fold-in runs inside evaluation)
            for _ in range(config.fold_in_steps):
                negatives = sampler.sample(pair_users, config.fold_in_negatives)
                logits = pair_logits(pair_users, torch.cat([pair_items[:, None], negatives], dim=1))
                deviation = sum(
                    ((weight[rows] - prior) ** 2).sum() for weight, prior in zip(weights, priors, strict=True)
                )
                objective = loss(logits[:, 0], logits[:, 1:]) + config.fold_in_l2 * deviation / len(pair_users)
                optimizer.zero_grad()
                objective.backward()
                optimizer.step()
    finally:
        for parameter, flag in trainable.items():
            parameter.requires_grad_(flag)
        module.train(was_training)
