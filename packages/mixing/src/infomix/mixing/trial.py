"""One evaluated mixture: what offline methods read from their history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Trial:
    """A proxy run at `mixture` (weights over domains, summing to 1) and what it measured."""

    mixture: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    seed: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def check_mixture(weights: Any, domains: int, name: str = "mixture") -> np.ndarray:
    """Return `weights` as a float array on the simplex, or raise naming what is wrong."""
    array = np.asarray(weights, dtype=float)
    if array.shape != (domains,):
        raise ValueError(f"{name} must have shape ({domains},), got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {array}")
    if not np.isclose(array.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1, sums to {array.sum():.6f}")
    return array
