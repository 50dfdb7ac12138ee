"""Hybrid fusion of several runs: reciprocal-rank fusion and normalised score fusion."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from infomix.retrieval.metrics import Run, ranked

NORMALISATIONS = ("minmax", "zscore", "none")


def _weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if not runs:
        raise ValueError("runs must contain at least one run")
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs) or any(w < 0 for w in weights):
        raise ValueError(f"weights must be {len(runs)} non-negative numbers, got {list(weights)}")
    return list(weights)


def reciprocal_rank_fusion(
    runs: Sequence[Run], k: float = 60.0, weights: Sequence[float] | None = None, depth: int | None = None
) -> dict[str, dict[str, float]]:
    """RRF (Cormack et al., 2009): score(d) = Σ_runs w / (k + rank(d)), ranks from 1, top `depth` of each run."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    fused: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for run, weight in zip(runs, _weights(runs, weights), strict=True):
        for query, scores in run.items():
            for rank, doc in enumerate(ranked(scores, depth), start=1):
                fused[query][doc] += weight / (k + rank)
    return {q: dict(docs) for q, docs in fused.items()}


def _normalise(scores: Mapping[str, float], how: str) -> dict[str, float]:
    values = np.fromiter(scores.values(), dtype=float, count=len(scores))
    if how == "minmax":
        span = values.max() - values.min() if values.size else 0.0
        values = (values - values.min()) / span if span > 0 else np.ones_like(values)
    elif how == "zscore":
        std = values.std() if values.size else 0.0
        values = (values - values.mean()) / std if std > 0 else np.zeros_like(values)
    return dict(zip(scores, values.tolist(), strict=True))


def score_fusion(
    runs: Sequence[Run], normalisation: str = "minmax", weights: Sequence[float] | None = None
) -> dict[str, dict[str, float]]:
    """Weighted sum of per-query normalised scores (a doc missing from a run contributes 0 there)."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, got {normalisation!r}")
    fused: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for run, weight in zip(runs, _weights(runs, weights), strict=True):
        for query, scores in run.items():
            for doc, value in _normalise(scores, normalisation).items():
                fused[query][doc] += weight * value
    return {q: dict(docs) for q, docs in fused.items()}
