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


def sliced_wasserstein(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, n_projections: int = 256,
                       n_quantiles: int = 512, seed: int = 0) -> float:  # fmt: skip
    """√(mean over random unit directions θ of W2²(θ·a, θ·b)), each 1-D W2 from `n_quantiles` quantile levels."""
    x, y = _flat(a), _flat(b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the sample sets must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    theta = np.random.default_rng(seed).standard_normal((x.shape[1], n_projections))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    qx = np.quantile(x @ theta, levels, axis=0)
    qy = np.quantile(y @ theta, levels, axis=0)
    return float(np.sqrt(np.mean((qx - qy) ** 2)))


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a^½ Σ_b Σ_a^½)^½) of the Gaussian fits (the formula behind FID)."""
    x, y = _flat(a), _flat(b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the sample sets must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root = _sqrtm_psd(cov_x)
    cross = _sqrtm_psd(root @ cov_y @ root)
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - 2 * np.trace(cross))
