"""Distributions with known mutual information, for testing and benchmarking estimators."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from infomix.core.hookspecs import hookimpl


class GaussianTask:
    """x, y standard Gaussian in `dim` dimensions, coordinate i of y correlated with coordinate i of x by `rho`.

    I(x; y) = −(dim/2)·log(1 − ρ²) nats.
    """

    def __init__(self, dim: int = 1, rho: float = 0.75) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not -1.0 < rho < 1.0:
            raise ValueError(f"rho must be in (-1, 1), got {rho}")
        self.dim, self.rho = dim, rho

    @property
    def mutual_information(self) -> float:
        return -0.5 * self.dim * math.log(1.0 - self.rho**2)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim))
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * rng.standard_normal((n, self.dim))
        return x, y


@hookimpl
def register_components(register: Any) -> None:
    register("mi.task", "gaussian", GaussianTask)
