"""Isotropic Gaussian mixtures with their exact denoiser, score and log density at every noise level."""

from __future__ import annotations

import math
from typing import Any

import torch

from infomix.mi.diffusion.schedules import NoiseSchedule, make_schedule


class GaussianMixture:
    """x_0 ~ Σ_k π_k N(μ_k, s_k² I_d), in any dimension d; `means` [K, d], `variances` [K], `weights` [K]."""

    def __init__(self, means: Any, variances: Any, weights: Any = None) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim != 2:
            raise ValueError(f"means must have shape [K, d], got {tuple(self.means.shape)}")
        k = self.means.shape[0]
        self.variances = torch.as_tensor(variances, dtype=torch.float64).reshape(-1)
        if self.variances.shape != (k,) or (self.variances <= 0).any():
            raise ValueError(f"variances must be {k} positive numbers (one per mean), got {self.variances.tolist()}")
        w = (
            torch.full((k,), 1.0 / k, dtype=torch.float64)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64)
        )
        if w.shape != (k,) or (w < 0).any() or abs(float(w.sum()) - 1.0) > 1e-9:
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {w.tolist()}")
        self.weights = w
        self.dim = self.means.shape[1]

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape [n, {self.dim}] for this {self.dim}-d mixture, got {tuple(x.shape)}")
        return x

    def _components(self, x: torch.Tensor, alpha: float, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-component log(π_k N(x; α μ_k, v_k I)) [n, K] and v_k = α² s_k² + σ² [K]."""
        v = alpha * alpha * self.variances.to(x) + sigma * sigma
        diff2 = torch.cdist(x, alpha * self.means.to(x)).square()
        log_p = torch.log(self.weights.to(x)) - 0.5 * diff2 / v - 0.5 * self.dim * torch.log(2 * math.pi * v)
        return log_p, v

    def log_prob(self, x: torch.Tensor, alpha: float = 1.0, sigma: float = 0.0) -> torch.Tensor:
        """log p_t(x) of x_t = α x_0 + σ ε (alpha=1, sigma=0: the data density)."""
        log_p, _ = self._components(self._check(x), alpha, sigma)
        return torch.logsumexp(log_p, dim=1)

    def denoise(self, x: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        """E[x_0 | x_t = x] = Σ_k w_k(x)·(μ_k + α s_k²/v_k·(x − α μ_k)), w_k the posterior responsibilities."""
        log_p, v = self._components(self._check(x), alpha, sigma)
        w = torch.softmax(log_p, dim=1)
        means = self.means.to(x)
        gain = alpha * self.variances.to(x) / v  # [K]
        # Σ_k w_k μ_k (1 − α gain_k) + (Σ_k w_k gain_k) x
        return (w * (1 - alpha * gain)) @ means + (w @ gain)[:, None] * x

    def score(self, x: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        """∇_x log p_t(x) = −Σ_k w_k (x − α μ_k)/v_k."""
        log_p, v = self._components(self._check(x), alpha, sigma)
        w = torch.softmax(log_p, dim=1) / v
        return -(w.sum(dim=1, keepdim=True) * x - alpha * (w @ self.means.to(x)))

    def sample(self, n: int, seed: int = 0, alpha: float = 1.0, sigma: float = 0.0) -> torch.Tensor:
        """n float64 draws of x_t = α x_0 + σ ε."""
        gen = torch.Generator().manual_seed(seed)
        k = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        x0 = self.means[k] + self.variances[k].sqrt()[:, None] * torch.randn(
            n, self.dim, generator=gen, dtype=torch.float64
        )
        return alpha * x0 + sigma * torch.randn(n, self.dim, generator=gen, dtype=torch.float64)


def four_mode_mixture() -> GaussianMixture:
    """The 2-D toy: means (±2, 0), (0, ±2.5); variances .05, .05, .1, .02; weights .3, .3, .2, .2."""
    return GaussianMixture(
        [[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5], [0.0, -2.5]], [0.05, 0.05, 0.1, 0.02], [0.3, 0.3, 0.2, 0.2]
    )


def random_mixture(dim: int, n_modes: int = 8, seed: int = 0, spread: float = 2.0) -> GaussianMixture:
    """n_modes modes with N(0, spread²/d·I) means (norm ≈ spread), variances in [0.02, 0.2], weights ∝ U(0.5, 1.5)."""
    gen = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(n_modes, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    variances = 0.02 + 0.18 * torch.rand(n_modes, generator=gen, dtype=torch.float64)
    weights = 0.5 + torch.rand(n_modes, generator=gen, dtype=torch.float64)
    return GaussianMixture(means, variances, weights / weights.sum())


class GMMDenoiser:
    """The exact denoiser of a GaussianMixture under a schedule: x̂0(x, t) = E[x_0 | α_t x_0 + σ_t ε = x]."""

    def __init__(self, mixture: GaussianMixture, schedule: str | NoiseSchedule = "edm") -> None:
        self.mixture, self.schedule = mixture, make_schedule(schedule)

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.mixture.denoise(x, self.schedule.alpha(t), self.schedule.sigma(t))

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.mixture.score(x, self.schedule.alpha(t), self.schedule.sigma(t))
