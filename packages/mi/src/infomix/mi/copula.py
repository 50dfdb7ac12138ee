"""Gaussian-copula MI: each margin rank-transformed to a standard normal, then the bias-corrected Gaussian formula."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from infomix.core.hookspecs import hookimpl
from infomix.mi.estimate import Estimate
from infomix.mi.gaussian import GaussianEstimator
from infomix.mi.samples import paired, require_varying


def copula_normalize(array: np.ndarray) -> np.ndarray:
    """Map each column through its empirical CDF, rank/(n+1), then the standard normal quantile function."""
    ranks = rankdata(array, method="average", axis=0)
    return ndtri(ranks / (array.shape[0] + 1.0))


class GaussianCopulaEstimator:
    """Gaussian-copula MI (Ince et al., Hum. Brain Mapp. 2017): rank-normalise every margin, then Gaussian MI.

    Exactly invariant under strictly increasing maps of each coordinate, and consistent for data
    whose copula is Gaussian. For one-dimensional x and y with another copula it is a lower bound
    (the Gaussian has the largest entropy at a given covariance, the margins' entropies being fixed);
    in more dimensions it measures the dependence of the normal scores only. ``bias_correction``
    applies the Gaussian estimator's exact Wishart log-det correction: it removes the d_x·d_y/(2n)
    upward bias (about 0.37 → 0.00 nats on 5×5 tasks at n = 40); rank-normalising attenuates strong
    correlations slightly, so a downward bias remains at high MI and small n (about −0.07 nats on the
    3×3 2-pair task at n = 40, −0.02 at n = 200). The interval is the Gaussian estimator's basic
    bootstrap on the normalised data (``n_bootstrap=0`` gives none).
    """

    def __init__(
        self, bias_correction: bool = True, n_bootstrap: int = 200, confidence: float = 0.9, seed: int = 0
    ) -> None:
        self._gaussian = GaussianEstimator(bias_correction, n_bootstrap, confidence, seed)

    def estimate(self, x: Any, y: Any) -> Estimate:
        xm, ym = paired(x, y)
        require_varying(xm, "x")
        require_varying(ym, "y")
        result = self._gaussian.estimate(copula_normalize(xm), copula_normalize(ym))
        return Estimate(result.value, result.lower, result.upper, {**result.info, "transform": "copula-normal"})


@hookimpl
def register_components(register: Any) -> None:
    register("mi.estimator", "copula", GaussianCopulaEstimator)
