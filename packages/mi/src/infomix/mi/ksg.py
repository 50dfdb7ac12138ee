"""Kraskov–Stögbauer–Grassberger k-nearest-neighbour MI (variants 1 and 2), KD-tree and exact O(n²) paths."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from infomix.core.hookspecs import hookimpl
from infomix.mi.estimate import Estimate
from infomix.mi.intervals import basic_bootstrap, check_interval_params, subsample
from infomix.mi.samples import paired, require_varying, standardized


def jitter(z: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Add N(0, noise²) to standardised data so that no two distances tie (KSG assumes no ties)."""
    if noise == 0:
        return z
    return z + noise * np.random.default_rng(seed).standard_normal(z.shape)


def ksg_from_counts(k: int, n: int, count_x: np.ndarray, count_y: np.ndarray, variant: int) -> float:
    """The KSG digamma formula from the marginal neighbour counts (self excluded).

    Variant 1: ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩, n_x counting points strictly inside ε_i.
    Variant 2: ψ(k) − 1/k + ψ(n) − ⟨ψ(n_x) + ψ(n_y)⟩, n_x counting points within the box's x-extent.
    """
    if variant == 1:
        return float(digamma(k) + digamma(n) - np.mean(digamma(count_x + 1) + digamma(count_y + 1)))
    return float(digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(count_x) + digamma(count_y)))


def ksg_counts_kdtree(x: np.ndarray, y: np.ndarray, k: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """Marginal neighbour counts with KD-trees under the Chebyshev (max) norm: O(n log n) in low dimension."""
    z = np.concatenate([x, y], axis=1)
    _, neighbours = cKDTree(z).query(z, k=k + 1, p=np.inf)
    neighbours = neighbours[:, 1:]  # column 0 is the point itself (no ties after jitter)
    if variant == 1:
        eps = np.max(np.abs(z[neighbours] - z[:, None, :]), axis=(1, 2))
        radius_x = radius_y = np.nextafter(eps, 0)  # strict inequality
    else:
        radius_x = np.max(np.abs(x[neighbours] - x[:, None, :]), axis=(1, 2))
        radius_y = np.max(np.abs(y[neighbours] - y[:, None, :]), axis=(1, 2))
    count_x = cKDTree(x).query_ball_point(x, radius_x, p=np.inf, return_length=True) - 1
    count_y = cKDTree(y).query_ball_point(y, radius_y, p=np.inf, return_length=True) - 1
    return np.asarray(count_x), np.asarray(count_y)


def _chebyshev(a: np.ndarray) -> np.ndarray:
    return np.max(np.abs(a[:, None, :] - a[None, :, :]), axis=2)


def ksg_counts_exact(x: np.ndarray, y: np.ndarray, k: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """The same counts from the full n×n distance matrices: the O(n²) reference, written from the definition."""
    n = x.shape[0]
    if n * n * max(x.shape[1], y.shape[1]) > 3e8:
        raise ValueError(f"exact=True builds n×n×d distance arrays, too large for n={n}; use the KD-tree path")
    dx, dy = _chebyshev(x), _chebyshev(y)
    dz = np.maximum(dx, dy)
    np.fill_diagonal(dz, np.inf)
    order = np.argsort(dz, axis=1, kind="stable")[:, :k]  # the k nearest other points
    rows = np.arange(n)[:, None]
    off_diagonal = ~np.eye(n, dtype=bool)
    if variant == 1:
        eps = dz[rows, order].max(axis=1)
        count_x = ((dx < eps[:, None]) & off_diagonal).sum(axis=1)
        count_y = ((dy < eps[:, None]) & off_diagonal).sum(axis=1)
    else:
        eps_x, eps_y = dx[rows, order].max(axis=1), dy[rows, order].max(axis=1)
        count_x = ((dx <= eps_x[:, None]) & off_diagonal).sum(axis=1)
        count_y = ((dy <= eps_y[:, None]) & off_diagonal).sum(axis=1)
    return count_x, count_y


class KSGEstimator:
    """Kraskov–Stögbauer–Grassberger k-NN estimator (PRE 69, 066138, 2004), variant 1 or 2.

    Each column is standardised, then N(0, ``noise``²) is added to break ties. Distances use the
    Chebyshev (max) norm in x, in y and in the joint space; neighbours come from scipy's cKDTree
    (``exact=True`` uses the O(n²) distance matrices instead, which give the same counts). Nearly
    unbiased under independence; biased downwards at high MI and in high dimension. The interval
    (``interval="subsample"``, default) is a half-sample subsampling interval over ``n_resamples``
    draws without replacement; ``interval="bootstrap"`` is the basic bootstrap, which duplicates rows
    (zero distances) and is known to under-cover; ``n_resamples=0`` gives no interval.
    """

    def __init__(
        self,
        k: int = 3,
        variant: int = 1,
        noise: float = 1e-10,
        exact: bool = False,
        interval: str = "subsample",
        n_resamples: int = 50,
        confidence: float = 0.9,
        seed: int = 0,
    ) -> None:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if variant not in (1, 2):
            raise ValueError(f"variant must be 1 or 2, got {variant!r}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if interval not in ("subsample", "bootstrap"):
            raise ValueError(f"interval must be 'subsample' or 'bootstrap', got {interval!r}")
        check_interval_params(n_resamples, confidence)
        self.k, self.variant, self.noise, self.exact = int(k), variant, noise, exact
        self.interval, self.n_resamples, self.confidence, self.seed = interval, n_resamples, confidence, seed

    def _value(self, x: np.ndarray, y: np.ndarray) -> float:
        counts = (ksg_counts_exact if self.exact else ksg_counts_kdtree)(x, y, self.k, self.variant)
        return ksg_from_counts(self.k, x.shape[0], *counts, self.variant)

    def estimate(self, x: Any, y: Any) -> Estimate:
        xm, ym = paired(x, y)
        n = xm.shape[0]
        if n < self.k + 1:
            raise ValueError(f"KSG with k={self.k} needs n >= k + 1 = {self.k + 1} samples, got n={n}")
        require_varying(xm, "x")
        require_varying(ym, "y")
        z = jitter(np.concatenate([standardized(xm), standardized(ym)], axis=1), self.noise, self.seed)
        xs, ys = z[:, : xm.shape[1]], z[:, xm.shape[1] :]
        value = self._value(xs, ys)
        lower = upper = None
        method = None
        min_rows = 2 * (self.k + 1)
        if self.n_resamples and n >= min_rows:
            if self.interval == "subsample":
                method = "half-sample subsampling"
                lower, upper = subsample(
                    lambda r: self._value(xs[r], ys[r]), n, value, self.n_resamples, self.confidence, self.seed
                )
            else:
                method = "basic bootstrap"
                rng = np.random.default_rng(self.seed + 1)

                def resampled(rows: np.ndarray) -> float:  # fresh jitter separates duplicated rows
                    zr = z[rows] + self.noise * rng.standard_normal((rows.size, z.shape[1]))
                    return self._value(zr[:, : xm.shape[1]], zr[:, xm.shape[1] :])

                lower, upper = basic_bootstrap(resampled, n, value, self.n_resamples, self.confidence, self.seed)
        info = {
            "n": n,
            "dim_x": xm.shape[1],
            "dim_y": ym.shape[1],
            "k": self.k,
            "variant": self.variant,
            "interval": method,
            "confidence": self.confidence if method else None,
        }
        return Estimate(value, lower, upper, info)


class KSG2Estimator(KSGEstimator):
    """KSG variant 2: neighbour counts within the x- and y-extents of the k-NN box (see KSGEstimator)."""

    def __init__(
        self,
        k: int = 3,
        noise: float = 1e-10,
        exact: bool = False,
        interval: str = "subsample",
        n_resamples: int = 50,
        confidence: float = 0.9,
        seed: int = 0,
    ) -> None:
        super().__init__(k, 2, noise, exact, interval, n_resamples, confidence, seed)


@hookimpl
def register_components(register: Any) -> None:
    register("mi.estimator", "ksg", KSGEstimator)
    register("mi.estimator", "ksg2", KSG2Estimator)
