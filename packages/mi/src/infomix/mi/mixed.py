"""MI between a discrete and a continuous variable by Ross's nearest-neighbour estimator (PLoS ONE 2014)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from infomix.core.hookspecs import hookimpl
from infomix.mi.estimate import Estimate
from infomix.mi.intervals import check_interval_params, subsample
from infomix.mi.ksg import jitter
from infomix.mi.samples import as_labels, as_matrix, require_varying, standardized


def ross_mi(labels: np.ndarray, points: np.ndarray, k: int) -> float:
    """ψ(N) − ⟨ψ(N_c)⟩ + ⟨ψ(k_i)⟩ − ⟨ψ(m_i)⟩ (Ross 2014, Eq. 2) over points whose class has ≥ 2 members.

    N_c is the size of point i's class, d_i the Chebyshev distance to its k_i-th nearest neighbour
    within the class (k_i = min(k, N_c − 1)) and m_i the number of other points of any class within d_i.
    """
    keep = np.ones(labels.size, dtype=bool)
    class_size = np.zeros(labels.size)
    k_i = np.zeros(labels.size)
    radius = np.zeros(labels.size)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size < 2:
            keep[members] = False
            continue
        kk = min(k, members.size - 1)
        distances, _ = cKDTree(points[members]).query(points[members], k=kk + 1, p=np.inf)
        radius[members] = distances[:, -1]
        class_size[members] = members.size
        k_i[members] = kk
    if keep.sum() < 2:
        raise ValueError("every class of the discrete variable has a single sample: MI cannot be estimated")
    labels, points, radius = labels[keep], points[keep], radius[keep]
    class_size, k_i = class_size[keep], k_i[keep]
    m = cKDTree(points).query_ball_point(points, radius, p=np.inf, return_length=True) - 1
    return float(digamma(labels.size) - np.mean(digamma(class_size)) + np.mean(digamma(k_i)) - np.mean(digamma(m)))


class DiscreteContinuousEstimator:
    """Ross's k-NN estimator of I(discrete; continuous) (PLoS ONE 9(2): e87357, 2014).

    ``discrete`` names the discrete argument, ``"x"`` (default) or ``"y"``; its rows are labels (a
    multi-column row is one symbol). The continuous side is standardised and jittered by N(0,
    ``noise``²) to break ties; distances are Chebyshev. Classes with one sample are left out. The
    interval is half-sample subsampling over ``n_resamples`` draws (``n_resamples=0`` gives none).
    """

    def __init__(
        self,
        k: int = 3,
        discrete: str = "x",
        noise: float = 1e-10,
        n_resamples: int = 50,
        confidence: float = 0.9,
        seed: int = 0,
    ) -> None:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if discrete not in ("x", "y"):
            raise ValueError(f"discrete must be 'x' or 'y', got {discrete!r}")
        check_interval_params(n_resamples, confidence)
        self.k, self.discrete, self.noise = int(k), discrete, noise
        self.n_resamples, self.confidence, self.seed = n_resamples, confidence, seed

    def estimate(self, x: Any, y: Any) -> Estimate:
        d_name, c_name = ("x", "y") if self.discrete == "x" else ("y", "x")
        labels = as_labels(x if self.discrete == "x" else y, d_name)
        points = as_matrix(y if self.discrete == "x" else x, c_name)
        if labels.size != points.shape[0]:
            raise ValueError(f"x and y must have the same number of samples, got {labels.size} and {points.shape[0]}")
        n = labels.size
        if n < self.k + 1:
            raise ValueError(f"the estimator with k={self.k} needs n >= k + 1 = {self.k + 1} samples, got n={n}")
        require_varying(points, c_name)
        points = jitter(standardized(points), self.noise, self.seed)
        value = ross_mi(labels, points, self.k)
        lower = upper = None
        if self.n_resamples and n >= 4 * (self.k + 1):
            lower, upper = subsample(
                lambda r: ross_mi(labels[r], points[r], self.k), n, value, self.n_resamples, self.confidence, self.seed
            )
        interval = "half-sample subsampling" if lower is not None else None
        info = {"n": n, "k": self.k, "discrete": self.discrete, "classes": int(np.unique(labels).size)}
        confidence = self.confidence if interval else None
        return Estimate(value, lower, upper, {**info, "interval": interval, "confidence": confidence})


@hookimpl
def register_components(register: Any) -> None:
    register("mi.estimator", "discrete-continuous", DiscreteContinuousEstimator)
