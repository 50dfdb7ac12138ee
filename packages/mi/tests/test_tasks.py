"""Gaussian task: its stated MI is the closed form of its sample covariance's population value."""

import math

import numpy as np
import pytest

from infomix.mi import GaussianTask


def test_mutual_information_formula_and_sample_correlation():
    task = GaussianTask(dim=3, rho=0.6)
    assert task.mutual_information == pytest.approx(-1.5 * math.log(1 - 0.36))
    x, y = task.sample(50_000, seed=0)
    corr = np.corrcoef(x[:, 1], y[:, 1])[0, 1]
    assert corr == pytest.approx(0.6, abs=0.01)
    assert abs(np.corrcoef(x[:, 0], y[:, 2])[0, 1]) < 0.02


def test_reproducible_and_validated():
    a = GaussianTask().sample(10, seed=3)
    b = GaussianTask().sample(10, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="rho"):
        GaussianTask(rho=1.0)
