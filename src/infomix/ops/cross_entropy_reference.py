"""PyTorch references of linear cross-entropy: chunked kernels with the ops' signatures and a plain autograd form."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_REFERENCE_CHUNK_ROWS = 256
FILTER_TILE = 512  # vocabulary tile of gradient filtering, as in the compiled kernels
_REDUCTIONS = ("none", "mean", "sum")


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check_values(target: torch.Tensor, vocab: int, ignore_index: int, reduction: int) -> torch.Tensor:
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= vocab))
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"linear_cross_entropy: target[{i}] = {int(target[i])} is outside [0, {vocab}) "
            f"and is not ignore_index={ignore_index}"
        )
    if reduction == 1 and not bool(valid.any()):
        raise ValueError("linear_cross_entropy: every target equals ignore_index, so reduction='mean' is undefined")
    return valid


def block_logits(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, softcap: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of a block of rows in the accumulation dtype, soft-capped; also d(capped)/d(raw) when capped."""
    acc = _acc_dtype(x.dtype)
    z = F.linear(x.to(acc), weight.to(acc), None if bias is None else bias.to(acc))
    if softcap > 0:
        t = torch.tanh(z / softcap)
        return softcap * t, 1 - t * t
    return z, None


def filter_tiles(g: torch.Tensor, filter_eps: float) -> torch.Tensor:
    """Zero the vocabulary tiles of a block's gradient whose |g| mass is below filter_eps / n_tiles in every row."""
    n_tiles = -(-g.shape[1] // FILTER_TILE)
    pad = n_tiles * FILTER_TILE - g.shape[1]
    mass = F.pad(g.abs(), (0, pad)).view(g.shape[0], n_tiles, FILTER_TILE).sum(2).amax(0)
    keep = (mass >= filter_eps / n_tiles) | mass.isnan()
    return g * keep.repeat_interleave(FILTER_TILE)[: g.shape[1]]


def _run(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    row_weight: torch.Tensor | None,
    ignore_index: int,
    reduction: int,
    label_smoothing: float,
    z_loss: float,
    softcap: float,
    filter_eps: float,
    grads: tuple[bool, bool, bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, d = x.shape
    vocab = weight.shape[0]
    acc = _acc_dtype(x.dtype)
    valid = _check_values(target, vocab, ignore_index, reduction)
    n_valid = int(valid.sum())
    want_grad = any(grads)
    loss_rows = torch.zeros(n, dtype=acc, device=x.device)
    lse_all = torch.zeros(n, dtype=torch.float32, device=x.device)
    grad_x = torch.zeros(n, d, dtype=acc, device=x.device) if grads[0] else None
    grad_w = torch.zeros(vocab, d, dtype=acc, device=x.device) if grads[1] else None
    grad_b = torch.zeros(vocab, dtype=acc, device=x.device) if grads[2] else None
    if row_weight is None:
        row_weight = torch.full((n,), 1.0 / max(n_valid, 1) if reduction == 1 else 1.0, dtype=acc, device=x.device)
    row_weight = torch.where(valid, row_weight.to(acc), 0)
    safe_target = torch.where(valid, target, 0)
    for start in range(0, n, _REFERENCE_CHUNK_ROWS):
        rows = slice(start, min(n, start + _REFERENCE_CHUNK_ROWS))
        z, dcap = block_logits(x[rows], weight, bias, softcap)
        y = safe_target[rows].unsqueeze(1)
        lse = torch.logsumexp(z, dim=1)
        bad = valid[rows] & ~lse.isfinite()
        if bool(bad.any()):
            i = start + int(bad.nonzero()[0, 0])
            raise ValueError(
                f"linear_cross_entropy: non-finite log-sum-exp in row {i} (NaN or inf in x, weight or bias)"
            )
        z_y = z.gather(1, y).squeeze(1)
        loss = lse - (1 - label_smoothing) * z_y - label_smoothing * z.mean(dim=1) + z_loss * lse * lse
        loss_rows[rows] = torch.where(valid[rows], loss, 0)
        lse_all[rows] = torch.where(valid[rows], lse, 0).float()
        if not want_grad:
            continue
        p = torch.softmax(z, dim=1)
        g = (1 + 2 * z_loss * lse).unsqueeze(1) * p - label_smoothing / vocab
        g.scatter_add_(1, y, torch.full_like(z_y, label_smoothing - 1).unsqueeze(1))
        if dcap is not None:
            g = g * dcap
        if filter_eps > 0:
            g = filter_tiles(g, filter_eps)
        g = g * row_weight[rows].unsqueeze(1)
        if grad_x is not None:
            grad_x[rows] = g @ weight.to(acc)
        if grad_w is not None:
            grad_w += g.T @ x[rows].to(acc)
        if grad_b is not None:
            grad_b += g.sum(0)
    if reduction == 0:
        loss_out = loss_rows.to(x.dtype)
    else:
        total = loss_rows.sum()
        loss_out = (total / n_valid if reduction == 1 else total).to(x.dtype)
    return (
        loss_out,
        lse_all,
        x.new_empty(0) if grad_x is None else grad_x.to(x.dtype),
        weight.new_empty(0) if grad_w is None else grad_w.to(weight.dtype),
        x.new_empty(0) if grad_b is None else grad_b.to(x.dtype),
    )


def forward_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    ignore_index: int,
    reduction: int,
    label_smoothing: float,
    z_loss: float,
    softcap: float,
    filter_eps: float,
    grad_input: bool,
    grad_weight: bool,
    grad_bias: bool,
    fp32_accumulation: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kernel of `infomix::linear_cross_entropy_fwd` in PyTorch, 256 rows at a time (always accumulating in fp32)."""
    return _run(
        x, weight, bias, target, None, ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps,
        (grad_input, grad_weight, grad_bias),
    )  # fmt: skip


def backward_reference(
    grad_loss: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    ignore_index: int,
    label_smoothing: float,
    z_loss: float,
    softcap: float,
    filter_eps: float,
    grad_input: bool,
    grad_weight: bool,
    grad_bias: bool,
    fp32_accumulation: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kernel of `infomix::linear_cross_entropy_bwd` (per-row upstream gradient) in PyTorch, chunked."""
    out = _run(
        x, weight, bias, target, grad_loss, ignore_index, 0, label_smoothing, z_loss, softcap, filter_eps,
        (grad_input, grad_weight, grad_bias),
    )  # fmt: skip
    return out[2], out[3], out[4]


def linear_cross_entropy_autograd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable (plain autograd) loss and LSE of x [N, D], target [N]; autograd keeps N x V for backward."""
    code = _REDUCTIONS.index(reduction)
    valid = _check_values(target, weight.shape[0], ignore_index, code)
    z, _ = block_logits(x, weight, bias, softcap)
    lse = torch.logsumexp(z, dim=1)
    z_y = z.gather(1, torch.where(valid, target, 0).unsqueeze(1)).squeeze(1)
    rows = lse - (1 - label_smoothing) * z_y - label_smoothing * z.mean(dim=1) + z_loss * lse * lse
    rows = torch.where(valid, rows, 0)
    if code == 0:
        loss = rows
    elif code == 1:
        loss = rows.sum() / valid.sum()
    else:
        loss = rows.sum()
    return loss.to(x.dtype), torch.where(valid, lse, 0).float()
