"""Fused flash-style attention: validated front, fake and autograd registration, and a drop-in module."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from infomix.ops._library import define_op, load, reference_forced
from infomix.ops.attention_reference import attention_backward_reference, attention_reference

__all__ = ["Attention", "attention"]

FORWARD_SCHEMA = (
    "(Tensor q, Tensor k, Tensor v, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, Tensor? key_padding_mask, "
    "float scale, int window_left, int window_right, float softcap, bool return_entropy) -> (Tensor, Tensor, Tensor)"
)
BACKWARD_SCHEMA = (
    "(Tensor grad_out, Tensor? grad_lse, Tensor? grad_entropy, Tensor q, Tensor k, Tensor v, Tensor out, "
    "Tensor lse, Tensor entropy, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, Tensor? key_padding_mask, "
    "float scale, int window_left, int window_right, float softcap) -> (Tensor, Tensor, Tensor)"
)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _reference_forward(*args: Any) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        return attention_reference(*args)


def _reference_backward(*args: Any) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        return attention_backward_reference(*args)


attention_fwd = define_op("attention_fwd", FORWARD_SCHEMA, _reference_forward)
attention_bwd = define_op("attention_bwd", BACKWARD_SCHEMA, _reference_backward)


def _compiled_cpu_kernel() -> bool:
    return load() and not reference_forced()


def _stats_dtype(q: Tensor) -> torch.dtype:
    return torch.float64 if q.dtype == torch.float64 else torch.float32


def _fake_forward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    cu_seqlens_q: Tensor | None,
    cu_seqlens_k: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
    window_left: int,
    window_right: int,
    softcap: float,
    return_entropy: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    batch, heads, length, _ = q.shape
    stats = _stats_dtype(q)
    out = q.new_empty(q.shape)
    lse = q.new_empty((batch, heads, length), dtype=stats)
    ent = q.new_empty((batch if return_entropy else 0, heads, length), dtype=stats)
    return out, lse, ent


def _fake_backward(
    grad_out: Tensor, grad_lse: Tensor | None, grad_entropy: Tensor | None, q: Tensor, k: Tensor, v: Tensor, *rest: Any
) -> tuple[Tensor, Tensor, Tensor]:
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


torch.library.register_fake("infomix::attention_fwd", _fake_forward)
torch.library.register_fake("infomix::attention_bwd", _fake_backward)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor, Tensor]) -> None:
    q, k, v, cu_q, cu_k, kpm, scale, left, right, cap, _ = inputs
    out, lse, ent = output
    ctx.save_for_backward(q, k, v, out, lse, ent, cu_q, cu_k, kpm)
    ctx.options = (scale, left, right, cap)


def _backward(ctx: Any, grad_out: Tensor, grad_lse: Tensor | None, grad_ent: Tensor | None) -> tuple[Any, ...]:
    q, k, v, out, lse, ent, cu_q, cu_k, kpm = ctx.saved_tensors
    if grad_ent is not None and grad_ent.numel() == 0:
        grad_ent = None
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dq, dk, dv = attention_bwd(grad_out, grad_lse, grad_ent, q, k, v, out, lse, ent, cu_q, cu_k, kpm, *ctx.options)
    return dq, dk, dv, None, None, None, None, None, None, None, None


torch.library.register_autograd("infomix::attention_fwd", _backward, setup_context=_setup_context)


# ---------------------------------------------------------------------------------------------------------------
def _window(window: int | tuple[int | None, int | None] | None, causal: bool) -> tuple[int, int]:
    """(left, right) key offsets around the (end-aligned) diagonal; -1 means unbounded."""
    if window is None:
        left, right = -1, -1
    elif isinstance(window, bool) or not isinstance(window, int | tuple | list):
        raise TypeError(f"attention: window must be None, an int or a (left, right) pair, got {window!r}")
    elif isinstance(window, int):
        left = right = window
    else:
        if len(window) != 2:
            raise ValueError(f"attention: window must be a (left, right) pair, got {window!r}")
        left, right = (-1 if w is None else w for w in window)
    for side, value in (("left", left), ("right", right)):
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise ValueError(f"attention: window {side} must be an int >= 0 or None (unbounded), got {value!r}")
    if causal:
        right = 0 if right < 0 else min(right, 0)
    return left, right


def _check_cu_seqlens(name: str, cu: Tensor | None, total: int, device: torch.device) -> None:
    if cu is None:
        return
    if not isinstance(cu, Tensor) or cu.dim() != 1 or cu.dtype not in (torch.int32, torch.int64) or cu.numel() < 2:
        raise ValueError(f"attention: {name} must be a 1-D int32/int64 tensor of sequence offsets with >= 2 entries")
    if cu.device != device:
        raise ValueError(f"attention: {name} must be on {device}, got {cu.device}")
    values = cu.tolist()
    if values[0] != 0 or values[-1] != total or any(b < a for a, b in itertools.pairwise(values)):
        raise ValueError(
            f"attention: {name} must be non-decreasing from 0 to the packed length {total}, got {values[:8]}"
            + ("..." if len(values) > 8 else "")
        )


def _validate(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float | None,
    softcap: float | None,
    cu_seqlens_q: Tensor | None,
    cu_seqlens_k: Tensor | None,
    key_padding_mask: Tensor | None,
) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"attention: {name} must be 4-D [batch, heads, seq, head_dim], got shape {tuple(t.shape)}")
        if t.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"attention: {name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"attention: q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"attention: q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    if k.shape != v.shape:
        raise ValueError(f"attention: k and v must have the same shape, got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"attention: q and k must have the same batch size, got {q.shape[0]} and {k.shape[0]}")
    if q.shape[3] != k.shape[3] or q.shape[3] == 0:
        raise ValueError(f"attention: q and k need the same non-zero head_dim, got {q.shape[3]} and {k.shape[3]}")
    if k.shape[1] == 0 or q.shape[1] % k.shape[1] != 0:
        raise ValueError(
            f"attention: q heads ({q.shape[1]}) must be a multiple of k/v heads ({k.shape[1]}) for GQA/MQA"
        )
    if scale is not None and not (isinstance(scale, int | float) and math.isfinite(scale)):
        raise ValueError(f"attention: scale must be a finite number or None, got {scale!r}")
    if softcap is not None and not (isinstance(softcap, int | float) and softcap > 0 and math.isfinite(softcap)):
        raise ValueError(f"attention: softcap must be a positive finite number or None, got {softcap!r}")
    if cu_seqlens_q is not None or cu_seqlens_k is not None:
        if q.shape[0] != 1:
            raise ValueError(f"attention: with cu_seqlens pack the sequences into batch size 1, got {q.shape[0]}")
        cq = cu_seqlens_q if cu_seqlens_q is not None else cu_seqlens_k
        ck = cu_seqlens_k if cu_seqlens_k is not None else cu_seqlens_q
        _check_cu_seqlens("cu_seqlens_q", cq, q.shape[2], q.device)
        _check_cu_seqlens("cu_seqlens_k", ck, k.shape[2], q.device)
        if cq.numel() != ck.numel():  # type: ignore[union-attr]
            raise ValueError("attention: cu_seqlens_q and cu_seqlens_k must describe the same number of sequences")
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, Tensor) or key_padding_mask.dtype != torch.bool:
            raise TypeError("attention: key_padding_mask must be a bool tensor [batch, S_k] (True = padding)")
        if tuple(key_padding_mask.shape) != (k.shape[0], k.shape[2]):
            raise ValueError(
                f"attention: key_padding_mask must have shape {(k.shape[0], k.shape[2])} = [batch, S_k], "
                f"got {tuple(key_padding_mask.shape)}"
            )
        if key_padding_mask.device != q.device:
            raise ValueError(f"attention: key_padding_mask must be on {q.device}, got {key_padding_mask.device}")
    # the compiled CPU kernel screens for NaN inside its own parallel pass (no extra passes over the inputs)
    if not torch.compiler.is_compiling() and not (q.device.type == "cpu" and _compiled_cpu_kernel()):
        for name, t in (("q", q), ("k", k), ("v", v)):
            if torch.isnan(t).any():
                raise ValueError(f"attention: {name} contains NaN")


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    window: int | tuple[int | None, int | None] | None = None,
    softcap: float | None = None,
    cu_seqlens_q: Tensor | None = None,
    cu_seqlens_k: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    return_lse: bool = False,
    return_entropy: bool = False,
) -> Tensor | tuple[Tensor, ...]:
    """softmax(softcap(scale * q kᵀ) + mask) v without materialising the S_q x S_k scores.

    q: [B, Hq, S_q, d]; k, v: [B, Hkv, S_k, d] with Hq a multiple of Hkv (query head h reads kv head
    h // (Hq / Hkv): GQA, MQA when Hkv = 1). Masks align the last query with the last key (query i sits at
    key position i + S_k - S_q), as for a KV cache:
      causal: query i sees keys j <= i + S_k - S_q.
      window: int w (|j - pos(i)| <= w) or (left, right), None meaning unbounded; with causal, right is 0.
      softcap: logits become softcap * tanh(logits / softcap) (applied after scale).
      cu_seqlens_q / cu_seqlens_k: offsets [n + 1] of n sequences packed along S (batch size 1); each attends
        only within itself. One of them alone is used for both.
      key_padding_mask: bool [B, S_k], True marks padding keys (as in nn.MultiheadAttention).
    scale defaults to 1/sqrt(d). A query that sees no key returns zeros (lse -inf, entropy 0).
    Returns out, plus lse [B, Hq, S_q] (natural log of the softmax normaliser) and the entropy (nats) of each
    query's attention distribution when asked, in that order. Both are float32 (float64 for float64 input)
    and differentiable.
    """
    _validate(q, k, v, scale, softcap, cu_seqlens_q, cu_seqlens_k, key_padding_mask)
    left, right = _window(window, causal)
    scale_value = float(scale) if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    cap = float(softcap) if softcap is not None else 0.0
    args = (q, k, v, cu_seqlens_q, cu_seqlens_k, key_padding_mask, scale_value, left, right, cap, return_entropy)
    if reference_forced():
        out, lse, ent = attention_reference(*args)
    else:
        out, lse, ent = attention_fwd(*args)
    if not (return_lse or return_entropy):
        return out
    results = [out]
    if return_lse:
        results.append(lse)
    if return_entropy:
        results.append(ent)
    return tuple(results)


class Attention(nn.Module):
    """Self-attention of the shared tiny transformer: q/k/v projections, GQA/MQA heads, fused attention, output."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        *,
        bias: bool = True,
        causal: bool = False,
        window: int | tuple[int | None, int | None] | None = None,
        softcap: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(
                f"Attention: embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads})"
            )
        if num_kv_heads <= 0 or num_heads % num_kv_heads != 0:
            raise ValueError(f"Attention: num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})")
        _window(window, causal)
        self.embed_dim, self.num_heads, self.num_kv_heads = embed_dim, num_heads, num_kv_heads
        self.head_dim = embed_dim // num_heads
        self.causal, self.window, self.softcap = causal, window, softcap
        factory = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.kv_proj = nn.Linear(embed_dim, 2 * num_kv_heads * self.head_dim, bias=bias, **factory)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        cu_seqlens: Tensor | None = None,
        return_entropy: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """x [B, S, embed_dim] -> [B, S, embed_dim]; with return_entropy also the entropy [B, heads, S]."""
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"Attention: x must be [batch, seq, {self.embed_dim}], got shape {tuple(x.shape)}")
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv_proj(x).view(batch, length, 2, self.num_kv_heads, self.head_dim)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        result = attention(
            q,
            k,
            v,
            causal=self.causal,
            window=self.window,
            softcap=self.softcap,
            cu_seqlens_q=cu_seqlens,
            key_padding_mask=key_padding_mask,
            return_entropy=return_entropy,
        )
        out, ent = result if isinstance(result, tuple) else (result, None)
        y = self.out_proj(out.transpose(1, 2).reshape(batch, length, self.embed_dim))
        return (y, ent) if return_entropy else y  # type: ignore[return-value]
