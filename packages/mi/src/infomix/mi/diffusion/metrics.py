"""Distances between sample sets: trajectory error, sliced Wasserstein-2 and the Fréchet distance of Gaussian fits."""

from __future__ import annotations

import numpy as np
import torch


def _flat(a: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def trajectory_error(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over samples of ‖x − x_ref‖₂ (paired: the same x_T)."""
    a, b = _flat(x), _flat(reference)
    if a.shape != b.shape:
        raise ValueError(f"x and reference must have the same shape, got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b, axis=1).mean())


def _directions(dim: int, n_projections: int, seed: int) -> np.ndarray:
    theta = np.random.default_rng(seed).standard_normal((dim, n_projections))
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


def _levels(n_quantiles: int) -> np.ndarray:
    return (np.arange(n_quantiles) + 0.5) / n_quantiles


def sliced_wasserstein(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, n_projections: int = 256,
                       n_quantiles: int = 512, seed: int = 0) -> float:  # fmt: skip
    """√(mean over random unit directions θ of W2²(θ·a, θ·b)), each 1-D W2 from `n_quantiles` quantile levels."""
    return TargetDistances(b, n_projections, n_quantiles, seed).sliced_wasserstein(a)


class TargetDistances:
    """Sliced W2 and Fréchet distance to one fixed target set, whose projections and moments are computed once."""

    def __init__(self, target: torch.Tensor | np.ndarray, n_projections: int = 256, n_quantiles: int = 512,
                 seed: int = 0) -> None:  # fmt: skip
        y = _flat(target)
        self.dim = y.shape[1]
        self.theta = _directions(self.dim, n_projections, seed)
        self.levels = _levels(n_quantiles)
        self.quantiles = np.quantile(y @ self.theta, self.levels, axis=0)
        self.mean, self.cov = y.mean(axis=0), np.atleast_2d(np.cov(y, rowvar=False))

    def _check(self, a: torch.Tensor | np.ndarray) -> np.ndarray:
        x = _flat(a)
        if x.shape[1] != self.dim:
            raise ValueError(f"the sample sets must have the same dimension, got {x.shape[1]} and {self.dim}")
        return x

    def sliced_wasserstein(self, a: torch.Tensor | np.ndarray) -> float:
        qx = np.quantile(self._check(a) @ self.theta, self.levels, axis=0)
        return float(np.sqrt(np.mean((qx - self.quantiles) ** 2)))

    def frechet(self, a: torch.Tensor | np.ndarray) -> float:
        x = self._check(a)
        return _frechet(x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False)), self.mean, self.cov)


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet(mu_x: np.ndarray, cov_x: np.ndarray, mu_y: np.ndarray, cov_y: np.ndarray) -> float:
    root = _sqrtm_psd(cov_x)
    cross = _sqrtm_psd(root @ cov_y @ root)
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - 2 * np.trace(cross))


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a^½ Σ_b Σ_a^½)^½) of the Gaussian fits (the formula behind FID)."""
    return TargetDistances(b, n_projections=1, n_quantiles=2).frechet(a)
