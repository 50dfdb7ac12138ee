"""Plug-in MI of discrete variables with the Miller–Madow correction and an asymptotic normal interval."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from infomix.core.hookspecs import hookimpl
from infomix.mi.estimate import Estimate
from infomix.mi.intervals import check_interval_params, clip_to_estimate
from infomix.mi.samples import paired_labels

CORRECTIONS = ("miller-madow", "none")


def contingency(codes_x: np.ndarray, codes_y: np.ndarray) -> np.ndarray:
    """Counts of each observed (x, y) pair: a [K_x, K_y] table over the observed symbols."""
    _, cx = np.unique(codes_x, return_inverse=True)
    _, cy = np.unique(codes_y, return_inverse=True)
    table = np.zeros((cx.max() + 1, cy.max() + 1))
    np.add.at(table, (cx, cy), 1.0)
    return table


def plugin_mi(table: np.ndarray) -> tuple[float, float]:
    """Plug-in MI Σ p log(p / p_x p_y) of a count table, and the delta-method variance (E[log²r] − I²)/n."""
    n = table.sum()
    p = table / n
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    log_ratio = np.log(p[nz] / (px @ py)[nz])
    mi = float(np.sum(p[nz] * log_ratio))
    variance = max(float(np.sum(p[nz] * log_ratio**2)) - mi**2, 0.0) / n
    return mi, variance


def discrete_mi(
    table: np.ndarray, correction: str = "miller-madow", confidence: float | None = 0.9
) -> tuple[float, float | None, float | None, dict[str, Any]]:
    """MI of a count table with optional Miller–Madow correction and an asymptotic interval.

    Miller–Madow adds (m − 1)/(2n) to each plug-in entropy (m = occupied cells), so the MI estimate
    drops by (m_xy − m_x − m_y + 1)/(2n). The interval is normal with variance the delta-method term
    plus the χ² null term df/(2n²), df = (m_x − 1)(m_y − 1): the first dominates under dependence, the
    second under independence, where the delta-method variance vanishes.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    n = table.sum()
    mi, variance = plugin_mi(table)
    m_xy = int(np.count_nonzero(table))
    m_x, m_y = int(np.count_nonzero(table.sum(axis=1))), int(np.count_nonzero(table.sum(axis=0)))
    if correction == "miller-madow":
        mi -= (m_xy - m_x - m_y + 1) / (2.0 * n)
    variance += (m_x - 1) * (m_y - 1) / (2.0 * n**2)
    lower = upper = None
    if confidence is not None:
        half = float(ndtri(0.5 + confidence / 2.0)) * np.sqrt(variance)
        lower, upper = clip_to_estimate(mi, mi - half, mi + half)
    info = {"cells": m_xy, "symbols_x": m_x, "symbols_y": m_y, "correction": correction}
    return float(mi), lower, upper, info


class DiscreteEstimator:
    """Plug-in MI of two discrete variables (labels of any type; a multi-column row is one symbol).

    ``correction="miller-madow"`` (default) removes the first-order upward bias of the plug-in
    entropies; ``"none"`` gives the raw plug-in value. The interval is asymptotic (delta method plus
    the χ² null term, see `discrete_mi`) at level ``confidence``; ``confidence=None`` gives none.
    """

    def __init__(self, correction: str = "miller-madow", confidence: float | None = 0.9) -> None:
        if correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
        if confidence is not None:
            check_interval_params(0, confidence)
        self.correction, self.confidence = correction, confidence

    def estimate(self, x: Any, y: Any) -> Estimate:
        cx, cy = paired_labels(x, y)
        value, lower, upper, info = discrete_mi(contingency(cx, cy), self.correction, self.confidence)
        interval = "asymptotic normal" if self.confidence is not None else None
        return Estimate(
            value, lower, upper, {"n": cx.size, **info, "interval": interval, "confidence": self.confidence}
        )


@hookimpl
def register_components(register: Any) -> None:
    register("mi.estimator", "discrete", DiscreteEstimator)
