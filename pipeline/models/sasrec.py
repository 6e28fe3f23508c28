"""SASRec (Kang & McAuley 2018): causal self-attention over the recent items, the attention reference of
the sequence family.

Pre-norm Transformer blocks (as in the paper: layer norm before attention and feed-forward, residual
connections, dropout), learned positional embeddings counted back from the most recent item, and cross-
entropy over the catalogue (as in RecBole) instead of the paper's one sampled negative per position.
Each position attends to itself and to the real items before it, never to padding, so a left-padded
history gives the same state however much padding precedes it.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from pipeline.models.sequential import SequenceEncoder, Sequences, SequentialConfig, SequentialRecommender


class SASRecConfig(SequentialConfig):
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(1, ge=1)
    inner_dim: int = Field(256, ge=1, description="width of the position-wise feed-forward layer")
    epochs: int = Field(20, ge=1, description="upper bound: an epoch costs twice a GRU's (padding is attended)")

    @model_validator(mode="after")
    def heads_divide_dimension(self) -> SASRecConfig:
        if self.embedding_dim % self.num_heads:
            raise ValueError(f"embedding_dim={self.embedding_dim} must be divisible by num_heads={self.num_heads}")
        return self


class SelfAttentionEncoder(SequenceEncoder):
    def __init__(self, padding: int, dim: int, max_length: int, layers: int, heads: int, inner: int, dropout: float):
        super().__init__()
        self.padding = padding
        self.heads = heads
        self.positions = torch.nn.Embedding(max_length, dim)
        torch.nn.init.normal_(self.positions.weight, std=0.02)
        block = torch.nn.TransformerEncoderLayer(dim, heads, inner, dropout, activation="gelu", batch_first=True,
                                                 norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(dim)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, embedded: torch.Tensor, sequences: Sequences) -> torch.Tensor:
        length = embedded.shape[1]
        positions = torch.arange(self.positions.num_embeddings - length, self.positions.num_embeddings,
                                 device=embedded.device)
        inputs = self.dropout(embedded + self.positions(positions))
        real = sequences.items != self.padding
        causal = torch.ones(length, length, dtype=torch.bool, device=embedded.device).tril()
        itself = torch.eye(length, dtype=torch.bool, device=embedded.device)
        allowed = causal & (real[:, None, :] | itself)  # [b, query, key]
        blocked = (~allowed).repeat_interleave(self.heads, dim=0)
        return self.norm(self.blocks(inputs, mask=blocked))


class SASRec(SequentialRecommender):
    name = "sasrec"
    Config = SASRecConfig
    config: SASRecConfig

    def build_encoder(self) -> SequenceEncoder:
        c = self.config
        return SelfAttentionEncoder(self.n_items, c.embedding_dim, c.max_length, c.num_layers, c.num_heads,
                                    c.inner_dim, c.dropout)
