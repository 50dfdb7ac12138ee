"""Conformance checks a plugin's components must pass; import them in your plugin's tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from infomix.core.kinds import KINDS
from infomix.core.registry import Component


def check_component(component: Component) -> None:
    """Every component: a known kind, a summary, documented parameters, buildable from its defaults."""
    assert component.kind in KINDS, f"{component.key}: unknown kind"
    assert component.summary.strip(), f"{component.key}: empty summary"
    assert component.doc.strip(), f"{component.key}: no docstring"
    for p in component.params:
        assert p.name.isidentifier(), f"{component.key}: bad parameter name {p.name!r}"
    if not any(p.required for p in component.params):
        component.create()


def check_mi_estimator(estimator: Any, *, n: int = 4000, tolerance: float = 0.1, seed: int = 0) -> None:
    """An `mi.estimator`: near-exact MI on a correlated Gaussian pair, ~0 on independent data, symmetric."""
    rng = np.random.default_rng(seed)
    rho = 0.8
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    true = -0.5 * math.log(1 - rho**2)
    result = estimator.estimate(x[:, None], y[:, None])
    for field in ("value", "lower", "upper", "info"):
        assert hasattr(result, field), f"estimate() result lacks {field!r}"
    assert abs(result.value - true) < tolerance, f"MI {result.value:.4f} vs true {true:.4f}"
    if result.lower is not None and result.upper is not None:
        assert result.lower <= result.value <= result.upper, "interval does not contain the estimate"
    independent = estimator.estimate(x[:, None], rng.standard_normal((n, 1)))
    assert abs(independent.value) < tolerance, f"MI of independent variables {independent.value:.4f} is not ~0"
    swapped = estimator.estimate(y[:, None], x[:, None])
    assert abs(swapped.value - result.value) < tolerance, "estimate is not symmetric in x and y"


def check_offline_mixing_method(method: Any, *, n: int = 8) -> None:
    """A `mixing.method` with propose/recommend: proposals are mixtures on the simplex, reproducible."""
    history: list[Any] = []
    proposals = np.asarray(method.propose(history, n), dtype=float)
    expected = (n, len(method.domains))
    assert proposals.shape == expected, f"propose gave shape {proposals.shape}, expected {expected}"
    assert np.all(proposals >= 0), "negative mixture weight"
    np.testing.assert_allclose(proposals.sum(axis=1), 1.0, atol=1e-9, err_msg="mixtures must sum to 1")
    again = np.asarray(method.propose(history, n), dtype=float)
    np.testing.assert_allclose(proposals, again, err_msg="propose is not reproducible for the same state")
    recommended = np.asarray(method.recommend(history), dtype=float)
    assert recommended.shape == (expected[1],) and np.isclose(recommended.sum(), 1.0), "recommend gave no mixture"


def check_quantizer(quantizer: Any, *, shape: tuple[int, int] = (48, 256), seed: int = 0) -> None:
    """A `compression.quantizer`: dequantize(quantize(W)) keeps shape and dtype, error below W's own scale."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=gen)
    q = quantizer.quantize(weight)
    restored = q.dequantize()
    assert restored.shape == weight.shape and restored.dtype == weight.dtype
    rel = (restored - weight).norm() / weight.norm()
    assert rel < 0.2, f"relative reconstruction error {rel:.3f} is too large"


def check_ranking_metric(metric: Any) -> None:
    """A `retrieval.metric`: 1 for an ideal ranking, lower for a reversed one, in [0, 1]."""
    qrels: Mapping[str, Mapping[str, int]] = {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}}
    ideal = {"q1": {"d1": 3.0, "d2": 2.0, "d9": 1.0}, "q2": {"d3": 2.0, "d8": 1.0}}
    worst = {"q1": {"d9": 3.0, "d2": 2.0, "d1": 1.0}, "q2": {"d8": 2.0, "d7": 1.5, "d3": 1.0}}
    best_scores = metric(ideal, qrels)
    worst_scores = metric(worst, qrels)
    for q in qrels:
        assert math.isclose(best_scores[q], 1.0), f"ideal ranking of {q} scores {best_scores[q]}"
        assert 0.0 <= worst_scores[q] < best_scores[q], f"reversed ranking of {q} scores {worst_scores[q]}"
