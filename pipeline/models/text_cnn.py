"""A text-CNN item encoder (Kim 2014) inside a sequence recommender, so that items nobody has interacted
with yet are ranked from their text and categories (ConvMF / DeepCoNN style hybrid).

An item's vector and output bias come from an item tower (an MLP, as in the two-tower model) over three
parts: a convolutional encoding of its text (word embeddings, filters of several widths, max-over-time
pooling), a projection of its categories, and a free per-item vector for items that have training
interactions. During training each item loses its free part at rate `id_dropout` (DropoutNet, Volkovs
et al. 2017), so the tower learns to place and score an item from content alone; items without training
interactions (new items) are always represented that way. The tower, rather than a sum of the parts,
lets text and identity combine nonlinearly: on MovieTweetings validation, new-item NDCG@10 went from
0.08-0.09 to 0.09-0.14 over three seeds and warm NDCG@10 from about 0.100 to 0.100-0.111 (docs/models.md,
"Cold-start validation").
A user's state is a GRU over the vectors of their recent items, as in GRU4Rec, so new users are served
from the items they reveal.

The word vocabulary is built from the texts of items with training interactions (words seen only in new
items would have untrained embeddings; they map to the unknown word) and saved as JSON next to the
weights, together with the category names.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from pydantic import Field, model_validator

from pipeline.data.features import ItemFeatures
from pipeline.data.interactions import Interactions
from pipeline.models.rnn import GRU4Rec, RecurrentConfig
from pipeline.models.towers import mlp_tower

CONTENT_FILE = "content.json"
WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words by index; index 0 pads and index 1 stands for every word outside the vocabulary."""

    words: tuple[str, ...]
    PADDING = 0
    UNKNOWN = 1

    @classmethod
    def build(cls, documents: Sequence[str], min_count: int) -> Vocabulary:
        """Words in at least `min_count` documents, most frequent first (ties alphabetically)."""
        counts = Counter(word for document in documents for word in set(tokenize(document)))
        kept = sorted((word for word, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(tuple(kept))

    def __len__(self) -> int:
        return len(self.words) + 2

    def encode(self, documents: Sequence[str], max_words: int) -> np.ndarray:
        """Word indices [len(documents), max_words], truncated and right-padded."""
        lookup = {word: j + 2 for j, word in enumerate(self.words)}
        encoded = np.full((len(documents), max_words), self.PADDING, dtype=np.int64)
        for row, document in enumerate(documents):
            indices = [lookup.get(word, self.UNKNOWN) for word in tokenize(document)[:max_words]]
            encoded[row, : len(indices)] = indices
        return encoded


class TextCNN(torch.nn.Module):
    """Kim (2014): word embeddings, one convolution per filter width, max-over-time pooling, projection."""

    def __init__(self, vocabulary_size: int, word_dim: int, widths: tuple[int, ...], filters: int,
                 output_dim: int, dropout: float):
        super().__init__()
        self.words = torch.nn.Embedding(vocabulary_size, word_dim, padding_idx=Vocabulary.PADDING)
        torch.nn.init.xavier_normal_(self.words.weight[1:])
        self.convolutions = torch.nn.ModuleList(torch.nn.Conv1d(word_dim, filters, width) for width in widths)
        self.dropout = torch.nn.Dropout(dropout)
        self.projection = torch.nn.Linear(filters * len(widths), output_dim)

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        embedded = self.words(words).transpose(1, 2)  # [n, word_dim, max_words]
        pooled = [torch.relu(conv(embedded)).amax(dim=2) for conv in self.convolutions]
        return self.projection(self.dropout(torch.cat(pooled, 1)))


class TextCNNConfig(RecurrentConfig):
    word_dim: int = Field(64, ge=1)
    filter_widths: tuple[int, ...] = Field((1, 2, 3), min_length=1)
    filters: int = Field(64, ge=1, description="filters per width")
    max_words: int = Field(16, ge=1, description="words of an item's text read by the encoder")
    min_word_count: int = Field(2, ge=1, description="items whose text must contain a word for it to be kept")
    id_dropout: float = Field(0.5, ge=0, le=1, description="training rate at which an item is seen by content only; "
                              "1 gives a pure content model")
    tower_hidden: tuple[int, ...] = Field((128,), description="hidden widths of the item tower")
    dropout: float = Field(0.2, ge=0, lt=1, description="in the GRU, the text CNN and the item tower")

    @model_validator(mode="after")
    def text_fits_the_filters(self) -> TextCNNConfig:
        if max(self.filter_widths) > self.max_words:
            raise ValueError(f"max_words={self.max_words} is shorter than the widest filter ({max(self.filter_widths)})")
        return self


class TextCNNHybrid(GRU4Rec):
    """GRU4Rec whose item vectors and biases come from an item tower over content (plus an identity part
    for items with interactions)."""

    name = "text_cnn"
    Config = TextCNNConfig
    config: TextCNNConfig
    unsupported_regimes: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        # the sizes of the text and category layers are known only once item features are seen (fit/load)
        self.vocabulary = Vocabulary(())
        self.category_names: tuple[str, ...] = ()
        super().__init__(*args, **kwargs)

    def build_module(self) -> torch.nn.Module:
        c = self.config
        module = super().build_module()
        del module.item_bias  # the tower outputs each item's bias
        module.text = TextCNN(len(self.vocabulary), c.word_dim, c.filter_widths, c.filters, c.embedding_dim, c.dropout)
        module.category_vectors = torch.nn.Parameter(torch.randn(len(self.category_names), c.embedding_dim) * 0.02)
        module.item_tower = mlp_tower([3 * c.embedding_dim, *c.tower_hidden, c.embedding_dim + 1], c.dropout,
                                      activate_last=False)
        module.register_buffer("item_words", torch.zeros(self.n_items, c.max_words, dtype=torch.long))
        module.register_buffer("item_categories", torch.zeros(self.n_items, len(self.category_names)))
        module.register_buffer("interacted", torch.zeros(self.n_items, dtype=torch.bool))
        return module

    def item_representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.module
        identity = m.interacted & (self.config.id_dropout < 1)  # at 1 the free vectors are never trained: pure content
        if m.training and self.config.id_dropout > 0:
            identity = identity & (torch.rand(self.n_items, device=identity.device) >= self.config.id_dropout)
        ids = m.item_embedding.weight[: self.n_items] * identity[:, None]
        parts = [ids, m.text(m.item_words), m.item_categories @ m.category_vectors]
        tower = m.item_tower(torch.cat(parts, dim=1))
        padding = m.item_embedding.weight[self.n_items :]  # the zero row that pads histories
        return torch.cat([tower[:, :-1], padding]), tower[:, -1]

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        features = train.side.items if train.side is not None else None
        if features is None:
            raise ValueError(f"{self.name} reads item text and categories: load the split with the items table "
                             "(SplitData.load(directory, items=...)) so that `train.side.items` is set")
        interacted = train.item_counts > 0
        self.vocabulary = Vocabulary.build([features.text[i] for i in np.flatnonzero(interacted)], self.config.min_word_count)
        self.category_names = tuple(features.category_names)
        self.module = self.build_module().to(self.device)
        self._store_content(features, interacted)
        return super().fit(train, valid)

    def _store_content(self, features: ItemFeatures, interacted: np.ndarray) -> None:
        m = self.module
        m.item_words.copy_(torch.from_numpy(self.vocabulary.encode(features.text, self.config.max_words)))
        m.item_categories.copy_(torch.from_numpy(features.categories.toarray()))
        m.interacted.copy_(torch.from_numpy(interacted))

    def save(self, directory: Path) -> None:
        super().save(directory)
        content = {"vocabulary": list(self.vocabulary.words), "category_names": list(self.category_names)}
        (directory / CONTENT_FILE).write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    def load_weights(self, directory: Path) -> Self:
        content = json.loads((directory / CONTENT_FILE).read_text(encoding="utf-8"))
        self.vocabulary = Vocabulary(tuple(content["vocabulary"]))
        self.category_names = tuple(content["category_names"])
        self.module = self.build_module().to(self.device)
        return super().load_weights(directory)
