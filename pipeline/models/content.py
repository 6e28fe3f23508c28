"""Content-based baseline: TF-IDF over item text and categories, cosine to the user's history profile.

Needs no interactions for an item, so it serves every regime, new items included; it is the
non-collaborative reference that deep content models must beat on cold items.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.data.features import ItemFeatures
from pipeline.data.interactions import Interactions
from pipeline.models.base import ModelConfig, Recommender, ScoringContext
from pipeline.models.history import history_rows


class ContentConfig(ModelConfig):
    max_features: int = Field(20_000, ge=1, description="vocabulary size cap")
    min_df: int = Field(1, ge=1, description="ignore words in fewer items than this")
    category_weight: float = Field(1.0, ge=0, description="weight of the category block against the text block")


def item_documents(items: ItemFeatures) -> list[str]:
    """Text plus one token per category (`cat_<name>`), so both live in one TF-IDF space."""
    categories = items.categories.tocsr()
    names = np.array(["cat_" + "".join(c if c.isalnum() else "_" for c in name) for name in items.category_names])
    return [f"{text} " + " ".join(names[categories[i].indices]) for i, text in enumerate(items.text)]


class ContentTFIDF(Recommender):
    name = "content"
    Config = ContentConfig
    config: ContentConfig
    unsupported_regimes: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._vectors: torch.Tensor | None = None

    def build_module(self) -> torch.nn.Module:
        module = torch.nn.Module()
        module.register_buffer("indices", torch.zeros(2, 0, dtype=torch.long))  # sparse [n_items, vocab]
        module.register_buffer("values", torch.zeros(0))
        module.register_buffer("vocabulary_size", torch.zeros((), dtype=torch.long))
        return module

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        if train.side is None or train.side.items is None:
            raise ValueError("the content model needs item text or categories (data/processed/items.parquet)")
        vectorizer = TfidfVectorizer(max_features=self.config.max_features, min_df=self.config.min_df,
                                     token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)
        matrix = sp.csr_matrix(vectorizer.fit_transform(item_documents(train.side.items)), dtype=np.float32).tocoo()
        self.module.indices = torch.from_numpy(np.vstack([matrix.row, matrix.col]).astype(np.int64)).to(self.device)
        self.module.values = torch.from_numpy(matrix.data).to(self.device)
        self.module.vocabulary_size = torch.tensor(matrix.shape[1], device=self.device)
        self._vectors = None
        return self

    def item_vectors(self) -> torch.Tensor:
        if self._vectors is None:
            shape = (self.n_items, int(self.module.vocabulary_size))
            self._vectors = torch.sparse_coo_tensor(
                self.module.indices, self.module.values, shape, check_invariants=True  # weights are loaded input
            ).coalesce()
        return self._vectors

    def score(self, users: torch.Tensor, context: ScoringContext) -> torch.Tensor:
        vectors = self.item_vectors()
        profile = torch.sparse.mm(vectors.t(), history_rows(users, context).t())  # [vocab, batch]
        profile = profile / profile.norm(dim=0, keepdim=True).clamp_min(1e-12)
        return torch.sparse.mm(vectors, profile).t()
