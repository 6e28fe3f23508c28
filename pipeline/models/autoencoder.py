"""What the autoencoder recommenders (CDAE, Mult-DAE, Mult-VAE, RecVAE) share.

They all read a user's whole history row, corrupt it while training, and score every item from the
reconstruction, so a user absent from training is served from the items they revealed with no
fold-in. The shared pieces: a user-batch training epoch, seeded input dropout, the history encoder
(Liang et al.'s tanh MLP or Shenbin et al.'s densely connected one), the multinomial likelihood and
Gaussian helpers.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ScoringContext
from pipeline.models.history import history_rows
from pipeline.models.sparse_input import normalize_rows, sparse_linear
from pipeline.models.towers import mlp_tower
from pipeline.training.trainer import IterativeConfig, IterativeRecommender


class AutoencoderConfig(IterativeConfig):
    # chosen on MovieTweetings validation: heavier corruption than the papers' 0.5 regularises better
    # on a small, sparse data set, and validation peaks within a few dozen epochs
    batch_size: int = Field(512, ge=1, description="users per step")
    dropout: float = Field(0.8, ge=0, lt=1, description="input corruption: share of history entries zeroed")
    epochs: int = Field(40, ge=1, description="upper bound; early stopping usually ends sooner")


def corrupt(rows: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Inverted dropout drawn from the model's generator (not the global RNG), so resumed runs match."""
    if rate == 0:
        return rows
    keep = torch.rand(rows.shape, generator=generator).to(rows.device) >= rate
    return rows * keep / (1 - rate)


def multinomial_log_likelihood(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-user sum of log softmax over the observed items (Liang et al. 2018, eq. 2)."""
    return (F.log_softmax(logits, dim=-1) * rows).sum(dim=-1)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    return -0.5 * (log_variance + math.log(2 * math.pi) + (z - mean).pow(2) / log_variance.exp())


def sample_gaussian(mean: torch.Tensor, log_variance: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The reparameterisation trick with noise from the model's generator."""
    noise = torch.randn(mean.shape, generator=generator).to(mean.device, mean.dtype)
    return mean + noise * torch.exp(0.5 * log_variance)


def row_batches(
    matrix: sp.csr_matrix, batches: Callable[[int], Sequence[torch.Tensor]], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The non-empty rows of `matrix` in the mini-batches `batches(n_rows)` draws (a model's seeded
    `epoch_batches`, which torchrun splits across processes), as (row indices, dense rows): users'
    history rows here, items' columns when CFGAN runs item-based."""
    active = np.flatnonzero(np.diff(matrix.indptr) > 0)
    for positions in batches(len(active)):
        batch = active[positions.numpy()]
        rows = torch.from_numpy(matrix[batch].toarray()).to(device)
        yield torch.from_numpy(batch).to(device), rows


class HistoryEncoder(torch.nn.Module):
    """L2-normalised, optionally corrupted history row -> code (or Gaussian mean and log-variance).

    `dense=False` is Liang et al.'s tanh MLP; `dense=True` is RecVAE's encoder, where every layer sees
    the sum of all earlier layers' outputs, with swish activations and layer normalisation. The first
    layer reads the row as a sparse tensor, so its cost grows with the history, not the catalogue;
    dropout on the zero entries is a no-op, so corrupting only the stored entries is exact.
    """

    def __init__(self, n_items: int, hidden: Sequence[int], output: int, dense: bool, activate_output: bool):
        super().__init__()
        self.dense = dense
        if dense:
            widths = [n_items, *hidden]
            pairs = zip(widths[:-1], widths[1:], strict=True)
            self.layers = torch.nn.ModuleList(torch.nn.Linear(width_in, width_out) for width_in, width_out in pairs)
            # eps=0.1 as in the RecVAE reference implementation
            self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(width, eps=0.1) for width in hidden)
            self.head = torch.nn.Linear(hidden[-1], output)
        else:
            self.tower = mlp_tower([n_items, *hidden, output], activate_last=activate_output, activation=torch.nn.Tanh)

    def forward(
        self, rows: torch.Tensor, dropout: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        inputs = normalize_rows(rows.float().to_sparse())
        if dropout > 0 and generator is not None:
            inputs = torch.sparse_coo_tensor(inputs.indices(), corrupt(inputs.values(), dropout, generator), rows.shape,
                                             is_coalesced=True, check_invariants=False)
        if not self.dense:
            return self.tower[1:](sparse_linear(inputs, self.tower[0]))
        total: torch.Tensor | None = None
        hidden = inputs
        for position, (linear, norm) in enumerate(zip(self.layers, self.norms, strict=True)):
            pre = sparse_linear(hidden, linear) if position == 0 else linear(hidden) + total
            hidden = norm(F.silu(pre))
            total = hidden if total is None else total + hidden
        return self.head(hidden)


class HistoryAutoencoder(IterativeRecommender):
    """Training over shuffled batches of users' history rows; scoring by reconstructing the context's
    history. Subclasses define the loss of a batch and the reconstruction."""

    config: AutoencoderConfig

    @abstractmethod
    def batch_loss(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Training loss of one batch of users and their (uncorrupted) history rows."""

    @abstractmethod
    def reconstruct(self, users: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Item scores [len(users), n_items] from the uncorrupted history rows, in evaluation mode."""

    def user_batches(self, train: Interactions) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Users with at least one training interaction, in a seeded random order, with their rows."""
        return row_batches(train.csr, self.epoch_batches, self.device)

    def batch_losses(self, train: Interactions) -> Iterator[torch.Tensor]:
        for users, rows in self.user_batches(train):
            yield self.batch_loss(users, rows)

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        return self.reconstruct(users, history_rows(users, context).float())
