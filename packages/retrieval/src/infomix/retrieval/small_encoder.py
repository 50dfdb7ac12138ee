"""A word vocabulary and a small bidirectional transformer encoder on `infomix.ops.attention`, trainable on CPU."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from infomix.ops.attention import Attention
from infomix.retrieval.tokenizer import Tokenizer

PAD, UNK = 0, 1


class Vocabulary:
    """Word ids for a tokenizer's terms: 0 is padding, 1 an unknown term, then terms by decreasing frequency."""

    def __init__(self, terms: Sequence[str], tokenizer: Tokenizer) -> None:
        self.terms = ["[PAD]", "[UNK]", *terms]
        self.tokenizer = tokenizer
        self.ids = {t: i for i, t in enumerate(self.terms)}
        if len(self.ids) != len(self.terms):
            raise ValueError("vocabulary terms must be distinct")

    @classmethod
    def build(
        cls, texts: Sequence[str], tokenizer: str | Tokenizer = "words", min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """The terms of ``texts`` seen at least ``min_count`` times (most frequent first, then alphabetical)."""
        tok = Tokenizer.preset(tokenizer) if isinstance(tokenizer, str) else tokenizer
        counts = Counter(t for text in texts for t in tok(text))
        terms = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(terms[:max_size] if max_size is not None else terms, tok)

    def __len__(self) -> int:
        return len(self.terms)

    def encode(self, text: str) -> list[int]:
        """The ids of a text's terms (unknown terms become UNK)."""
        return [self.ids.get(t, UNK) for t in self.tokenizer(text)]

    def config(self) -> dict[str, Any]:
        return {"terms": self.terms[2:], "tokenizer": self.tokenizer.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vocabulary:
        return cls(config["terms"], Tokenizer(**config["tokenizer"]))


def pad_ids(sequences: Sequence[Sequence[int]], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, L] (L = longest, at most ``max_length``, at least 1) and the real-token mask."""
    longest = max(1, min(max_length, max((len(s) for s in sequences), default=1)))
    ids = torch.full((len(sequences), longest), PAD, dtype=torch.long)
    for i, s in enumerate(sequences):
        s = list(s)[:longest]
        if s:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, ids != PAD


@dataclass
class EncoderConfig:
    """Sizes of a :class:`SmallEncoder`."""

    vocab_size: int
    dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4
    max_length: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.vocab_size < 3 or self.dim < 1 or self.n_layers < 0 or self.n_heads < 1 or self.dim % self.n_heads:
            raise ValueError(f"invalid EncoderConfig (need vocab_size >= 3, dim a multiple of n_heads): {self}")


class EncoderBlock(nn.Module):
    """Pre-norm block: bidirectional self-attention (infomix.ops.attention, padding keys masked) and a GELU MLP."""

    def __init__(self, c: EncoderConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.attn = Attention(c.dim, c.n_heads)
        self.mlp = nn.Sequential(
            nn.Linear(c.dim, c.mlp_ratio * c.dim), nn.GELU(), nn.Linear(c.mlp_ratio * c.dim, c.dim)
        )
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_padding_mask=~mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class SmallEncoder(nn.Module):
    """Token + learned position embeddings, pre-norm transformer blocks, final LayerNorm: ids -> hidden states."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim, padding_idx=PAD)
        self.position = nn.Embedding(config.max_length, config.dim)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.position.weight, std=0.02)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask [B, L] (mask True on real tokens) -> hidden [B, L, dim]."""
        if ids.ndim != 2 or mask.shape != ids.shape:
            raise ValueError(f"ids and mask must both be [batch, length], got {tuple(ids.shape)}, {tuple(mask.shape)}")
        if ids.shape[1] > self.config.max_length:
            raise ValueError(f"sequences are {ids.shape[1]} long, longer than max_length={self.config.max_length}")
        x = self.embed(ids) + self.position(torch.arange(ids.shape[1], device=ids.device))[None]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)
