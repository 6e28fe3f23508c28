"""What every GAN recommender shares: a fixed probe set to watch the generator on, the diversity of what
it generates, and a mode-collapse rule, so that "a run that collapses says so".

A collapsed generator produces (nearly) the same vector whatever it is conditioned on: every user then
gets the same top-K, and the generated rows point the same way. Both are measured on the same probe
users every epoch and compared with the REAL rows of those users, because what counts as diverse
depends on the data (a catalogue of 100 items cannot show the coverage of one of 10,000):

- `coverage@k`: share of the catalogue in at least one probe row's top-K. Only entries above a row's
  minimum count, so a constant row (no preference at all) covers nothing and a binary history row
  covers the items it holds, up to K of them.
- `diversity`: mean pairwise 1 - cosine similarity of the probe rows.

The rule (`CollapseMonitor`): coverage is measured above its floor, k / n_items, which is what a fully
collapsed generator reaches (one top-K for everyone), and the run is flagged collapsed when the
generated coverage's excess over that floor falls below `fraction` of the real rows' excess. Measuring
above the floor keeps the rule meaningful on small catalogues, where K items are already a sizeable
share of the catalogue. Coverage decides because a healthy recommender's score vectors share a large common
(popularity) direction, so their cosine diversity sits far below that of sparse binary rows even
when the rankings differ from user to user; diversity is reported beside it as a learning curve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig

log = logging.getLogger(__name__)

COLLAPSED = "collapsed"


class CollapseConfig(ModelConfig):
    """The collapse watch's settings, mixed into each GAN model's config."""

    probe_users: int = Field(256, ge=2, description="users whose generated rows are watched every epoch")
    collapse_k: int = Field(10, ge=1, description="top-K whose catalogue coverage is compared")
    collapse_fraction: float = Field(0.1, gt=0, lt=1, description="collapsed below this share of the real coverage")


def probe_users(train: Interactions, n: int) -> np.ndarray:
    """Up to `n` users with training interactions, evenly spaced over the index: fixed for a data set
    and drawn without randomness, so the probe set does not consume the model's generator (exact resume)."""
    active = np.flatnonzero(np.diff(train.csr.indptr) > 0)
    if len(active) <= n:
        return active
    return active[np.linspace(0, len(active) - 1, n).round().astype(np.int64)]


def generation_diversity(vectors: torch.Tensor, k: int) -> dict[str, float]:
    """`coverage@k` and `diversity` (module docstring) of the rows of `vectors` [n_rows, n_items]."""
    vectors = vectors.detach().float()
    k = min(k, vectors.shape[1])
    values, items = vectors.topk(k, dim=1)
    above_floor = values > vectors.min(dim=1, keepdim=True).values
    covered = torch.zeros(vectors.shape[1], dtype=torch.bool, device=vectors.device)
    covered[items[above_floor]] = True
    return {f"coverage@{k}": covered.float().mean().item(), "diversity": _mean_pairwise_cosine_distance(vectors)}


def _mean_pairwise_cosine_distance(vectors: torch.Tensor) -> float:
    """Mean of 1 - cos over distinct pairs of rows; rows of zeros count as orthogonal to every row."""
    n = vectors.shape[0]
    if n < 2:
        return 0.0
    unit = F.normalize(vectors, dim=1)
    similarity_sum = unit.sum(dim=0).pow(2).sum() - unit.pow(2).sum()
    return 1.0 - similarity_sum.item() / (n * (n - 1))


class CollapseMonitor:
    """Compares what a generator produces for the probe rows with the real rows, epoch after epoch.

    Create it once per fit from the probe users' real rows; call it on the generated rows of the same
    users. It returns the figures for the epoch record (`coverage@k`, `diversity`, `collapsed` 0/1) and
    logs a warning when the rule fires.
    """

    def __init__(self, real: torch.Tensor, k: int = 10, fraction: float = 0.1, name: str = "generator",
                 users: np.ndarray | None = None, train: Interactions | None = None):
        if not 0 < fraction < 1:
            raise ValueError(f"collapse fraction must lie in (0, 1), got {fraction}")
        self.k, self.fraction, self.name, self.users, self.train = k, fraction, name, users, train
        self.reference = generation_diversity(real, k)

    @classmethod
    def for_training(cls, train: Interactions, config: CollapseConfig, name: str,
                     previous: CollapseMonitor | None = None) -> CollapseMonitor:
        """A monitor on `probe_users(train, ...)` whose reference is their training rows; `users` holds
        them, so the model generates for exactly these users each epoch. `previous` is returned as it is
        when it watches the same training set (models call this every epoch)."""
        if previous is not None and previous.train is train:
            return previous
        users = probe_users(train, config.probe_users)
        real = torch.from_numpy(train.csr[users].toarray())
        return cls(real, config.collapse_k, config.collapse_fraction, name, users, train)

    @property
    def coverage_key(self) -> str:
        return next(key for key in self.reference if key.startswith("coverage@"))

    def __call__(self, generated: torch.Tensor) -> dict[str, float]:
        figures = generation_diversity(generated, self.k)
        key = self.coverage_key
        floor = min(self.k, generated.shape[1]) / generated.shape[1]
        collapsed = figures[key] - floor < self.fraction * (self.reference[key] - floor)
        if collapsed:
            log.warning("%s looks mode-collapsed: its top-%d lists cover %.4f of the catalogue against %.4f for "
                        "the real rows of the same users", self.name, self.k, figures[key], self.reference[key])
        return {**figures, COLLAPSED: float(collapsed)}


def collapse_summary(training_log: Sequence[Mapping[str, float]]) -> dict[str, int]:
    """How many epochs a run spent collapsed and whether its last epoch was, for the training record."""
    flags = [bool(record[COLLAPSED]) for record in training_log if COLLAPSED in record]
    if not flags:
        return {}
    return {"collapsed_epochs": sum(flags), "collapsed_at_end": int(flags[-1])}
