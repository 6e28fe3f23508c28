"""The sampled-negatives protocol of the NCF paper (each held-out item ranked against N sampled items the
user never interacted with). Only for comparison with papers: it overstates accuracy and can reorder
models (Krichene & Rendle 2020), so its results are always stored under a `sampled` label."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.evaluation.protocol import EvaluationSet
from pipeline.models.base import Recommender, ScoringContext

SAMPLED_LABEL = "sampled: 1 positive + {n} sampled negatives per held-out item (NCF protocol, not full ranking)"


@torch.no_grad()
def sampled_metrics(model: Recommender, evaluation_set: EvaluationSet, n_negatives: int, k: int,
                    batch_size: int, seed: int) -> dict[str, float | str]:
    """HR@k and NDCG@k of each held-out (user, item) pair ranked among `n_negatives` sampled items."""
    rng = np.random.default_rng(seed)
    targets = evaluation_set.targets.csr
    known = (evaluation_set.history.csr + targets).tocsr()
    candidates = evaluation_set.candidates if evaluation_set.candidates is not None else np.arange(model.n_items)
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    context = ScoringContext(history=evaluation_set.history)
    hits, gains = [], []
    model.module.eval()
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score(torch.from_numpy(batch).to(model.device), context).float().cpu().numpy()
        for row, user in enumerate(batch):
            seen = set(known[user].indices)
            for positive in targets[user].indices:
                negatives = _draw(rng, candidates, seen, n_negatives)
                # ties count against the positive, so a constant scorer gets no credit
                rank = int((scores[row, negatives] >= scores[row, positive]).sum()) + 1
                hits.append(rank <= k)
                gains.append(1.0 / np.log2(rank + 1) if rank <= k else 0.0)
    return {f"hr@{k}": float(np.mean(hits)), f"ndcg@{k}": float(np.mean(gains)), "pairs": float(len(hits)),
            "protocol": SAMPLED_LABEL.format(n=n_negatives)}


def _draw(rng: np.random.Generator, candidates: np.ndarray, seen: set[int], n: int) -> np.ndarray:
    drawn: list[int] = []
    while len(drawn) < n:
        for item in rng.choice(candidates, size=2 * (n - len(drawn))):
            if item not in seen and len(drawn) < n:
                drawn.append(int(item))
    return np.asarray(drawn)
