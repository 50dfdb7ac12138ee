"""Ross's discrete–continuous estimator: closed form by quadrature, independence, invariance, bad input."""

import numpy as np
import pytest

from infomix.mi import DiscreteContinuousEstimator, LabelGaussianTask, task


def test_matches_quadrature_mi():
    t = task("label3-gaussian")
    values = [DiscreteContinuousEstimator(n_resamples=0).estimate(*t.sample(2000, seed=s)).value for s in range(5)]
    assert np.mean(values) == pytest.approx(t.mutual_information, abs=0.03)


def test_discrete_side_may_be_y_and_interval():
    t = LabelGaussianTask((0.0, 2.0), 1.0, (0.3, 0.7))
    x, y = t.sample(1500, seed=1)
    a = DiscreteContinuousEstimator(n_resamples=20).estimate(x, y)
    b = DiscreteContinuousEstimator(discrete="y", n_resamples=0).estimate(y, x)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    assert a.lower <= a.value <= a.upper
    assert a.value == pytest.approx(t.mutual_information, abs=0.05)


def test_independent_labels_give_about_zero_and_monotone_maps_barely_matter():
    rng = np.random.default_rng(2)
    labels, values = rng.integers(0, 4, 2000), rng.standard_normal(2000)
    est = DiscreteContinuousEstimator(n_resamples=0)
    assert abs(est.estimate(labels, values).value) < 0.03
    x, y = task("label3-gaussian").sample(2000, seed=3)
    assert est.estimate(x, np.arcsinh(y)).value == pytest.approx(est.estimate(x, y).value, abs=0.03)


def test_bad_input():
    est = DiscreteContinuousEstimator(n_resamples=0)
    with pytest.raises(ValueError, match="single sample"):
        est.estimate(np.arange(10), np.random.default_rng(0).standard_normal(10))
    with pytest.raises(ValueError, match="y has constant column"):
        est.estimate(np.arange(10) % 2, np.ones(10))
    with pytest.raises(ValueError, match="discrete must be"):
        DiscreteContinuousEstimator(discrete="z")
    with pytest.raises(ValueError, match="same number of samples"):
        est.estimate(np.arange(10) % 2, np.ones(9))
