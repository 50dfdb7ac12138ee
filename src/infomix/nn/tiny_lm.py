"""A small causal transformer language model, all of it in this file, for proxy training and tests.

Pre-norm blocks (RMSNorm), rotary position embeddings, grouped-query attention, SwiGLU MLP, tied
input/output embeddings. Byte-level by default (vocab 256), so any text trains it without a tokenizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from infomix.ops.attention import attention
from infomix.ops.cross_entropy import linear_cross_entropy


@dataclass
class TinyLMConfig:
    """Sizes of a TinyLM; the defaults give a ~0.8M-parameter byte-level model."""

    vocab_size: int = 256
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    mlp_ratio: float = 8 / 3
    max_seq_len: int = 512
    rope_base: float = 10_000.0

    def __post_init__(self) -> None:
        kv = self.n_kv_heads or self.n_heads
        checks = {
            "vocab_size": self.vocab_size >= 2,
            "dim": self.dim >= 1 and self.dim % self.n_heads == 0,
            "n_layers": self.n_layers >= 1,
            "n_heads": self.n_heads >= 1 and self.n_heads % kv == 0,
            "max_seq_len": self.max_seq_len >= 1,
            "head_dim": (self.dim // max(self.n_heads, 1)) % 2 == 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"invalid TinyLMConfig.{name}: need vocab_size >= 2, dim divisible by n_heads with an even "
                    f"head size, n_heads a multiple of n_kv_heads; got {self}"
                )

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rotary_tables(seq_len: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [seq_len, head_dim / 2] of rotary position embeddings."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (even, odd) of x [B, H, S, d] by the position angles."""
    x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return rotated.type_as(x)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with grouped-query K/V heads, on the `infomix.ops.attention` kernel."""

    def __init__(self, config: TinyLMConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = config.n_heads, config.n_kv_heads or config.n_heads
        self.head_dim = config.head_dim
        self.wq = nn.Linear(config.dim, self.n_heads * self.head_dim, bias=False)
        self.wkv = nn.Linear(config.dim, 2 * self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.wq(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        k, v = self.wkv(x).view(b, s, 2, self.n_kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = cast(torch.Tensor, attention(q, k, v, causal=True))
        return self.wo(out.transpose(1, 2).reshape(b, s, -1))


class SwiGLU(nn.Module):
    """The gated MLP silu(x·W1) ⊙ (x·W3) · W2."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = 16 * math.ceil(dim * ratio / 16)
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    """One pre-norm transformer block."""

    def __init__(self, config: TinyLMConfig) -> None:
        super().__init__()
        self.attn_norm, self.mlp_norm = RMSNorm(config.dim), RMSNorm(config.dim)
        self.attn = CausalSelfAttention(config)
        self.mlp = SwiGLU(config.dim, config.mlp_ratio)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class TinyLM(nn.Module):
    """The model: `forward(tokens)` gives logits [B, S, V]; `loss(tokens, targets)` the mean cross-entropy."""

    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(self, config: TinyLMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or TinyLMConfig()
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim)
        cos, sin = rotary_tables(config.max_seq_len, config.head_dim, config.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):  # scaled residual projections (GPT-2)
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final normalised hidden states [B, S, dim]."""
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be an integer tensor [batch, seq], got {tokens.dtype} {tuple(tokens.shape)}")
        seq = tokens.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence length {seq} exceeds max_seq_len {self.config.max_seq_len}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise ValueError(
                f"token ids must be in [0, {self.config.vocab_size}), got [{tokens.min()}, {tokens.max()}]"
            )
        x = self.embed(tokens)
        cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.linear(self.hidden(tokens), self.embed.weight)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
        """Mean next-token cross-entropy (nats) of `targets` [B, S] given `tokens` [B, S], by the streaming op."""
        if targets.shape != tokens.shape:
            raise ValueError(f"targets must have the shape of tokens {tuple(tokens.shape)}, got {tuple(targets.shape)}")
        h = self.hidden(tokens)
        # Streaming loss: the [B·S, V] logits are never materialised.
        loss = linear_cross_entropy(h.flatten(0, 1), self.embed.weight, targets.flatten(), ignore_index=ignore_index)
        return cast(torch.Tensor, loss)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, steps: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """Sample `steps` tokens after `prompt` [B, S] (greedy when temperature is 0)."""
        gen = torch.Generator(device=prompt.device).manual_seed(seed)
        tokens = prompt
        for _ in range(steps):
            logits = self(tokens[:, -self.config.max_seq_len :])[:, -1].float()
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)
            tokens = torch.cat([tokens, nxt], dim=1)
        return tokens
