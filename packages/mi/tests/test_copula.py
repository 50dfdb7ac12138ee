"""Gaussian-copula estimator: exact invariance under increasing maps, closed form, bias correction, bad input."""

import numpy as np
import pytest

from infomix.core.testing import check_mi_estimator
from infomix.mi import GaussianCopulaEstimator, GaussianEstimator, task
from infomix.mi.copula import copula_normalize


def test_exactly_invariant_under_increasing_maps():
    x, y = task("3v3-normal-2pair").sample(700, seed=4)
    est = GaussianCopulaEstimator(n_bootstrap=0)
    base = est.estimate(x, y).value
    mapped = est.estimate(np.arcsinh(x) * 3 + 1, np.exp(y)).value
    assert mapped == pytest.approx(base, rel=1e-12)


def test_recovers_gaussian_mi_through_nonlinear_margins():
    t = task("5v5-halfcube-2pair")
    x, y = t.sample(5000, seed=1)
    copula = GaussianCopulaEstimator(n_bootstrap=50).estimate(x, y)
    plain = GaussianEstimator(n_bootstrap=0).estimate(x, y).value
    assert copula.value == pytest.approx(t.mutual_information, abs=0.05)
    assert abs(plain - t.mutual_information) > 2 * abs(copula.value - t.mutual_information)
    assert copula.lower <= copula.value <= copula.upper


def test_normalised_margins_are_standard_normal_scores():
    z = copula_normalize(np.random.default_rng(0).exponential(size=(999, 2)))
    assert np.allclose(np.sort(z[:, 0]), np.sort(z[:, 1]))
    assert abs(z.mean()) < 1e-12 and z.std() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["5v5-normal-dense-0.5", "5v5-independent"])
def test_bias_correction_removes_small_sample_bias(name):
    t = task(name)
    corrected, raw = [], []
    for seed in range(60):
        x, y = t.sample(40, seed=seed)
        corrected.append(GaussianCopulaEstimator(n_bootstrap=0).estimate(x, y).value)
        raw.append(GaussianCopulaEstimator(bias_correction=False, n_bootstrap=0).estimate(x, y).value)
    raw_bias = np.mean(raw) - t.mutual_information
    assert raw_bias > 0.25  # about d_x·d_y/(2n) = 0.31 at n = 40
    assert abs(np.mean(corrected) - t.mutual_information) < 0.15 * raw_bias


def test_conformance():
    check_mi_estimator(GaussianCopulaEstimator(n_bootstrap=20))


def test_constant_column_is_named():
    with pytest.raises(ValueError, match="y has constant column"):
        GaussianCopulaEstimator(n_bootstrap=0).estimate(np.arange(20.0), np.c_[np.arange(20.0), np.ones(20)])
