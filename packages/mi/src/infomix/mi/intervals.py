"""Resampling intervals shared by the classical estimators: basic bootstrap and half-sample subsampling."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def check_interval_params(n_resamples: int, confidence: float, name: str = "n_resamples") -> None:
    """A resample count >= 0 (`name`: the argument that holds it, for the error) and a level in (0, 1)."""
    if n_resamples < 0:
        raise ValueError(f"{name} must be >= 0, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def clip_to_estimate(value: float, lower: float, upper: float) -> tuple[float, float]:
    """Keep the interval around the estimate and, as MI is non-negative, its lower end at 0 or above."""
    return float(max(min(lower, value), min(0.0, value))), float(max(upper, value))


def basic_bootstrap(
    statistic: Callable[[np.ndarray], float], n: int, value: float, n_resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Basic (reverse-percentile) bootstrap: 2θ̂ − q_{1−α/2}, 2θ̂ − q_{α/2} of θ̂ on rows drawn with replacement.

    `statistic(rows)` evaluates the estimator on the rows indexed by `rows`.
    """
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_resamples)])
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return clip_to_estimate(value, 2 * value - float(hi), 2 * value - float(lo))


def subsample(
    statistic: Callable[[np.ndarray], float], n: int, value: float, n_resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Subsampling interval (Politis & Romano 1994) from half-size samples drawn without replacement.

    For a root-n statistic, θ̂_m − θ̂_n over subsamples of size m has variance σ²(1/m − 1/n) (the
    finite-population form), so the deviations are rescaled by √(m/(n − m)) (1 at m = n/2) to the
    spread of θ̂_n, and the interval is θ̂_n − s·q_{1−α/2}, θ̂_n − s·q_{α/2}. Unlike the bootstrap it
    never duplicates a row, which nearest-neighbour estimators would read as a zero distance.
    """
    rng = np.random.default_rng(seed)
    m = n // 2
    deviations = np.array([statistic(rng.permutation(n)[:m]) - value for _ in range(n_resamples)])
    scale = np.sqrt(m / (n - m))
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(deviations, [alpha, 1.0 - alpha])
    return clip_to_estimate(value, value - scale * float(hi), value - scale * float(lo))
