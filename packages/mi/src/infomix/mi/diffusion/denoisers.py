"""The denoiser interface x̂0(x, t) = E[x_0 | x_t = x], a call counter, and a deliberately perturbed denoiser."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from infomix.mi.diffusion.schedules import NoiseSchedule


@runtime_checkable
class Denoiser(Protocol):
    """Anything with a `schedule` and `__call__(x, t) -> x̂0` (same shape as x; t a float time of the schedule)."""

    schedule: NoiseSchedule

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor: ...


def check_state(x: Any, name: str = "x_T") -> torch.Tensor:
    """A floating [batch, ...] tensor with no NaN, or a ValueError/TypeError naming `name`."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape [batch, ...] with at least 2 dimensions, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


class CountingDenoiser:
    """Wraps a denoiser, counts its calls and checks that each output has the input's shape and is finite."""

    def __init__(self, denoiser: Denoiser) -> None:
        if not callable(denoiser) or not hasattr(denoiser, "schedule"):
            raise TypeError("denoiser must be callable as denoiser(x, t) and have a `schedule` attribute")
        self.denoiser, self.schedule, self.calls = denoiser, denoiser.schedule, 0

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        self.calls += 1
        out = self.denoiser(x, float(t))
        if out.shape != x.shape:
            raise ValueError(f"the denoiser returned shape {tuple(out.shape)} for x of shape {tuple(x.shape)}")
        if not torch.isfinite(out).all():
            raise ValueError(f"the denoiser returned NaN or infinite values at t={float(t):.6g}")
        return out


class PerturbedDenoiser:
    """x̂0 + c·κ/(1 + κ)·tanh(A·x/√(1 + κ²)): a smooth, fixed error standing in for a network's, largest at high noise.

    A is a random matrix with N(0, 1/d) entries drawn from `seed`, c = `scale`, κ = σ_t/α_t. The error is a
    deterministic function of (x, t), so the probability-flow ODE of the perturbed denoiser is well defined.
    """

    def __init__(self, denoiser: Denoiser, scale: float = 0.2, seed: int = 0) -> None:
        self.denoiser, self.schedule, self.scale, self.seed = denoiser, denoiser.schedule, float(scale), seed
        self._matrix: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        d = flat.shape[1]
        if self._matrix is None or self._matrix.shape[0] != d:
            gen = torch.Generator().manual_seed(self.seed)
            self._matrix = torch.randn(d, d, generator=gen, dtype=torch.float64) / d**0.5
        kappa = self.schedule.kappa(t)
        matrix = self._matrix.to(flat.dtype)
        delta = self.scale * kappa / (1.0 + kappa) * torch.tanh(flat @ matrix.T / (1.0 + kappa * kappa) ** 0.5)
        return self.denoiser(x, t) + delta.reshape(x.shape)
