"""Gaussian estimator: closed-form MI, affine invariance, bias correction, intervals, bad input."""

import math

import numpy as np
import pytest

from infomix.core.testing import check_mi_estimator
from infomix.mi import GaussianEstimator, GaussianTask, estimate


def correlated(n, cov, seed):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.zeros(len(cov)), cov, size=n)


def closed_form(cov, dx):
    cov = np.asarray(cov)
    return 0.5 * (np.linalg.slogdet(cov[:dx, :dx])[1] + np.linalg.slogdet(cov[dx:, dx:])[1] - np.linalg.slogdet(cov)[1])


def random_cov(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


@pytest.mark.parametrize(("dx", "dy"), [(1, 1), (2, 3), (4, 1)])
def test_matches_closed_form(dx, dy):
    cov = random_cov(dx + dy, seed=dx * 10 + dy)
    z = correlated(20_000, cov, seed=1)
    result = GaussianEstimator(n_bootstrap=100).estimate(z[:, :dx], z[:, dx:])
    true = closed_form(cov, dx)
    assert result.value == pytest.approx(true, abs=0.03)
    assert result.lower < result.value < result.upper


def test_bootstrap_interval_coverage_is_near_nominal():
    cov = random_cov(4, seed=7)
    true = closed_form(cov, 2)
    hits = 0
    for rep in range(80):
        z = correlated(600, cov, seed=100 + rep)
        result = GaussianEstimator(n_bootstrap=100, confidence=0.9, seed=rep).estimate(z[:, :2], z[:, 2:])
        hits += result.lower <= true <= result.upper
    assert 0.8 <= hits / 80 <= 0.98  # nominal 0.9; a binomial(80, 0.9) stays inside with >99% probability


def test_invariant_under_invertible_affine_maps():
    cov = random_cov(5, seed=3)
    z = correlated(500, cov, seed=2)
    x, y = z[:, :2], z[:, 2:]
    rng = np.random.default_rng(4)
    ax, ay = rng.standard_normal((2, 2)) + 2 * np.eye(2), rng.standard_normal((3, 3)) + 2 * np.eye(3)
    est = GaussianEstimator(n_bootstrap=0)
    base = est.estimate(x, y).value
    mapped = est.estimate(x @ ax.T + 3.0, y @ ay.T - 1.0).value
    assert mapped == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert est.estimate(y, x).value == pytest.approx(base, rel=1e-12)


def test_bias_correction_removes_small_sample_bias():
    task = GaussianTask(dim=3, rho=0.5)
    corrected, plugin = GaussianEstimator(n_bootstrap=0), GaussianEstimator(bias_correction=False, n_bootstrap=0)
    values_c, values_p = [], []
    for seed in range(300):
        x, y = task.sample(30, seed=seed)
        values_c.append(corrected.estimate(x, y).value)
        values_p.append(plugin.estimate(x, y).value)
    bias_c = np.mean(values_c) - task.mutual_information
    bias_p = np.mean(values_p) - task.mutual_information
    assert bias_p > 0.1  # the plug-in estimate is biased upwards at n=30, d=6
    assert abs(bias_c) < 0.25 * bias_p


def test_estimate_function_units_and_torch_input():
    torch = pytest.importorskip("torch")
    x, y = GaussianTask(dim=2, rho=0.6).sample(3000, seed=5)
    nats = estimate(torch.from_numpy(x), torch.from_numpy(y), estimator="gaussian", n_bootstrap=0)
    bits = estimate(x, y, estimator="gaussian", bits=True, n_bootstrap=0)
    assert bits.unit == "bits"
    assert bits.value == pytest.approx(nats.value / math.log(2))


def test_conformance():
    check_mi_estimator(GaussianEstimator(n_bootstrap=50))


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.ones((10, 1)), np.ones((9, 1)), "same number of samples"),
        (np.array([[1.0], [np.nan], [2.0]] * 5), np.arange(15.0), "NaN"),
        (np.zeros((4, 2, 2)), np.zeros(4), r"shape \[n, d\]"),
        (np.arange(20.0), np.ones(20), "singular"),
    ],
)
def test_bad_input_is_named(x, y, message):
    with pytest.raises(ValueError, match=message):
        GaussianEstimator(n_bootstrap=0).estimate(x, y)


def test_bad_parameters():
    with pytest.raises(ValueError, match="confidence"):
        GaussianEstimator(confidence=1.5)
