"""Round-to-nearest weight quantisation, group-wise along the input dimension (int2..int8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from infomix.core.hookspecs import hookimpl


@dataclass
class GroupQuantized:
    """Integer codes [N, K] with one scale (and offset, when asymmetric) per group of `group_size` inputs."""

    codes: torch.Tensor
    scales: torch.Tensor
    offsets: torch.Tensor | None
    bits: int
    group_size: int
    dtype: torch.dtype

    def dequantize(self) -> torch.Tensor:
        n, k = self.codes.shape
        grouped = self.codes.reshape(n, k // self.group_size, self.group_size).float() * self.scales[..., None]
        if self.offsets is not None:
            grouped = grouped + self.offsets[..., None]
        return grouped.reshape(n, k).to(self.dtype)

    @property
    def step(self) -> torch.Tensor:
        """The quantisation step of each group: the worst-case rounding error is half of it."""
        return self.scales


class RoundToNearest:
    """Round-to-nearest group-wise weight quantisation.

    Each row of a weight [N, K] is split into groups of ``group_size`` consecutive inputs (``None``: one
    group per row). Symmetric: scale = max|w| / (2^(b−1) − 1), codes in [−(2^(b−1) − 1), 2^(b−1) − 1].
    Asymmetric: scale = (max − min) / (2^b − 1), w ≈ min + scale · code with codes in [0, 2^b − 1].
    Either way every element is within half a step of its original value.
    """

    def __init__(self, bits: int = 4, group_size: int | None = 128, symmetric: bool = True) -> None:
        if not 2 <= bits <= 8:
            raise ValueError(f"bits must be between 2 and 8, got {bits}")
        if group_size is not None and group_size < 1:
            raise ValueError(f"group_size must be a positive integer or None, got {group_size}")
        self.bits, self.group_size, self.symmetric = bits, group_size, symmetric

    def quantize(self, weight: torch.Tensor) -> GroupQuantized:
        if weight.ndim != 2:
            raise ValueError(f"weight must be 2-D [out_features, in_features], got shape {tuple(weight.shape)}")
        if not weight.is_floating_point():
            raise TypeError(f"weight must be floating point, got {weight.dtype}")
        if not torch.isfinite(weight).all():
            raise ValueError("weight contains NaN or infinite values")
        n, k = weight.shape
        group = self.group_size or k
        if k % group:
            raise ValueError(f"group_size {group} must divide in_features {k}")
        w = weight.detach().float().reshape(n, k // group, group)
        tiny = torch.finfo(torch.float32).tiny
        if self.symmetric:
            qmax = 2 ** (self.bits - 1) - 1
            scales = (w.abs().amax(dim=-1) / qmax).clamp_min(tiny)
            codes = torch.round(w / scales[..., None]).clamp(-qmax, qmax)
            offsets = None
        else:
            qmax = 2**self.bits - 1
            low, high = w.amin(dim=-1), w.amax(dim=-1)
            scales = ((high - low) / qmax).clamp_min(tiny)
            codes = torch.round((w - low[..., None]) / scales[..., None]).clamp(0, qmax)
            offsets = low
        code_dtype = torch.int8 if self.symmetric or self.bits < 8 else torch.uint8
        return GroupQuantized(codes.reshape(n, k).to(code_dtype), scales, offsets, self.bits, group, weight.dtype)


@hookimpl
def register_components(register: Any) -> None:
    register("compression.quantizer", "rtn", RoundToNearest)
