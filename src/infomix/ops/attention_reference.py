"""Materialised pure-PyTorch attention: the reference of every option of `infomix.ops.attention`."""

from __future__ import annotations

import torch
from torch import Tensor


def segments(
    q: Tensor, k: Tensor, cu_seqlens_q: Tensor | None, cu_seqlens_k: Tensor | None
) -> list[tuple[int, int, int, int, int]]:
    """(batch row, q start, q length, k start, k length) of every attention problem in the batch."""
    if cu_seqlens_q is None and cu_seqlens_k is None:
        return [(b, 0, q.shape[2], 0, k.shape[2]) for b in range(q.shape[0])]
    cq = (cu_seqlens_q if cu_seqlens_q is not None else cu_seqlens_k).tolist()  # type: ignore[union-attr]
    ck = (cu_seqlens_k if cu_seqlens_k is not None else cu_seqlens_q).tolist()  # type: ignore[union-attr]
    return [(0, cq[i], cq[i + 1] - cq[i], ck[i], ck[i + 1] - ck[i]) for i in range(len(cq) - 1)]


def visible(qn: int, kn: int, window_left: int, window_right: int, pad: Tensor | None, device: torch.device) -> Tensor:
    """Bool [qn, kn]: query i sees key j iff i + kn - qn - left <= j <= i + kn - qn + right and j is not padding."""
    i = torch.arange(qn, device=device).unsqueeze(1) + (kn - qn)
    j = torch.arange(kn, device=device).unsqueeze(0)
    allowed = torch.ones(qn, kn, dtype=torch.bool, device=device)
    if window_left >= 0:
        allowed &= j >= i - window_left
    if window_right >= 0:
        allowed &= j <= i + window_right
    if pad is not None:
        allowed &= ~pad.unsqueeze(0)
    return allowed


def _logits(qs: Tensor, ks: Tensor, scale: float, softcap: float) -> Tensor:
    raw = torch.matmul(qs, ks.transpose(-1, -2)) * scale
    return softcap * torch.tanh(raw / softcap) if softcap > 0 else raw


def attention_reference(
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
    """(out, lse, entropy), differentiable; computed in float32 (float64 for float64 inputs), S x S per segment.

    Same contract as the `infomix::attention_fwd` op: a query that sees no key gives out 0, lse -inf, entropy 0.
    """
    ct = torch.float64 if q.dtype == torch.float64 else torch.float32
    group = q.shape[1] // k.shape[1]
    qf, kf, vf = q.to(ct), k.to(ct).repeat_interleave(group, 1), v.to(ct).repeat_interleave(group, 1)
    outs, lses, ents = [], [], []
    for b, q0, qn, k0, kn in segments(q, k, cu_seqlens_q, cu_seqlens_k):
        pad = None if key_padding_mask is None else key_padding_mask[b, k0 : k0 + kn]
        allowed = visible(qn, kn, window_left, window_right, pad, q.device)
        logits = _logits(qf[b, :, q0 : q0 + qn], kf[b, :, k0 : k0 + kn], scale, softcap)
        masked = logits.masked_fill(~allowed, float("-inf"))
        seen = allowed.any(-1)  # [qn]
        # rows that see nothing get finite stand-in logits so that autograd stays NaN-free
        lse = torch.logsumexp(torch.where(seen.unsqueeze(-1), masked, torch.zeros_like(masked)), dim=-1)
        lse_safe = torch.where(seen, lse, torch.zeros_like(lse))
        p = torch.exp(masked - lse_safe.unsqueeze(-1)).masked_fill(~allowed, 0.0)
        outs.append(torch.matmul(p, vf[b, :, k0 : k0 + kn]))
        lses.append(torch.where(seen, lse, torch.full_like(lse, float("-inf"))))
        if return_entropy:
            centred = torch.where(allowed, logits - lse_safe.unsqueeze(-1), torch.zeros_like(logits))
            ents.append(-(p * centred).sum(-1))
    out = _assemble(outs, q, cu_seqlens_q is not None or cu_seqlens_k is not None)
    lse = _assemble(lses, q, cu_seqlens_q is not None or cu_seqlens_k is not None)
    ent = (
        _assemble(ents, q, cu_seqlens_q is not None or cu_seqlens_k is not None)
        if return_entropy
        else q.new_empty((0, q.shape[1], q.shape[2]), dtype=ct)
    )
    return out.to(q.dtype), lse, ent


def _assemble(parts: list[Tensor], q: Tensor, packed: bool) -> Tensor:
    if packed:  # [H, len, ...] pieces along the sequence axis of a single batch row
        return torch.cat(parts, dim=1).unsqueeze(0)
    return torch.stack(parts, dim=0)


def attention_backward_reference(
    grad_out: Tensor,
    grad_lse: Tensor | None,
    grad_entropy: Tensor | None,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    entropy: Tensor,
    cu_seqlens_q: Tensor | None,
    cu_seqlens_k: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
    window_left: int,
    window_right: int,
    softcap: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of `attention_reference`, from the closed-form softmax gradient (no autograd needed)."""
    ct = torch.float64 if q.dtype == torch.float64 else torch.float32
    group = q.shape[1] // k.shape[1]
    qf, kf, vf = q.to(ct), k.to(ct).repeat_interleave(group, 1), v.to(ct).repeat_interleave(group, 1)
    go = grad_out.to(ct)
    dsub = (go * out.to(ct)).sum(-1)
    if grad_lse is not None:
        dsub = dsub - grad_lse.to(ct)
    with_entropy = grad_entropy is not None and grad_entropy.numel() > 0
    dq, dk, dv = torch.zeros_like(qf), torch.zeros_like(kf), torch.zeros_like(vf)
    for b, q0, qn, k0, kn in segments(q, k, cu_seqlens_q, cu_seqlens_k):
        qs, ks, vs = qf[b, :, q0 : q0 + qn], kf[b, :, k0 : k0 + kn], vf[b, :, k0 : k0 + kn]
        pad = None if key_padding_mask is None else key_padding_mask[b, k0 : k0 + kn]
        allowed = visible(qn, kn, window_left, window_right, pad, q.device)
        raw = torch.matmul(qs, ks.transpose(-1, -2)) * scale
        logits = softcap * torch.tanh(raw / softcap) if softcap > 0 else raw
        lse_s = lse[b, :, q0 : q0 + qn].to(ct)
        seen = torch.isfinite(lse_s).unsqueeze(-1) & allowed
        centred = torch.where(seen, logits - torch.where(seen, lse_s.unsqueeze(-1), 0.0), 0.0)
        p = torch.where(seen, torch.exp(centred), 0.0)
        g = go[b, :, q0 : q0 + qn]
        dp = torch.matmul(g, vs.transpose(-1, -2))
        ds = p * (dp - dsub[b, :, q0 : q0 + qn].unsqueeze(-1))
        if with_entropy:
            ge = grad_entropy[b, :, q0 : q0 + qn].to(ct).unsqueeze(-1)  # type: ignore[index]
            en = entropy[b, :, q0 : q0 + qn].to(ct).unsqueeze(-1)
            ds = ds - ge * p * (centred + en)
        if softcap > 0:
            ds = ds * (1 - (logits / softcap) ** 2)
        dq[b, :, q0 : q0 + qn] = scale * torch.matmul(ds, ks)
        dk[b, :, k0 : k0 + kn] += scale * torch.matmul(ds.transpose(-1, -2), qs)
        dv[b, :, k0 : k0 + kn] += torch.matmul(p.transpose(-1, -2), g)
    b_, h_, s_, d_ = k.shape
    dk = dk.view(b_, h_, group, s_, d_).sum(2)
    dv = dv.view(b_, h_, group, s_, d_).sum(2)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)
