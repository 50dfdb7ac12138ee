"""Sentence pooling of token states: mean over real tokens, and L2 normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, S, D] over the positions where ``mask`` [B, S] is True (zeros for an all-False row)."""
    if hidden.ndim != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"need hidden [B, S, D] and mask [B, S], got {tuple(hidden.shape)} and {tuple(mask.shape)}")
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)


def l2_normalise(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``x`` divided by its L2 norm along the last dim (a zero vector stays zero)."""
    return F.normalize(x, p=2.0, dim=-1, eps=eps)
