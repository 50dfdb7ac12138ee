"""MINDE: exact Gaussian denoisers reproduce the closed-form MI; the trained estimator on a small task; errors."""

import numpy as np
import pytest
import torch

from infomix.core import get_registry
from infomix.core.threads import torch_threads
from infomix.mi import task
from infomix.mi.diffusion.minde import MINDEEstimator, gaussian_denoisers, minde_integral
from infomix.mi.tasks import GaussianTask


@pytest.mark.parametrize("name", ["1v1-normal-0.75", "3v3-normal-2pair", "2v2-normal-dense-0.5"])
def test_exact_scores_give_the_closed_form_mi(name):
    t = task(name)
    cov = t.covariance if hasattr(t, "covariance") else np.array([[1.0, t.rho], [t.rho, 1.0]])
    x, y = (torch.as_tensor(a) for a in t.sample(12_000, seed=4))
    per_sample = minde_integral(x, y, *gaussian_denoisers(cov, t.dim_x), seed=1)
    se = float(per_sample.std()) / len(per_sample) ** 0.5
    assert abs(float(per_sample.mean()) - t.mutual_information) < max(4 * se, 0.01), (per_sample.mean(), se)


def test_exact_scores_of_independent_variables_give_zero():
    x, y = torch.randn(500, 2, dtype=torch.float64), torch.randn(500, 2, dtype=torch.float64)
    per_sample = minde_integral(x, y, *gaussian_denoisers(np.eye(4), 2))
    assert float(per_sample.abs().max()) < 1e-12


def test_trained_minde_on_a_correlated_gaussian():
    t = GaussianTask(1, 0.8)
    x, y = t.sample(3000, seed=0)
    est = MINDEEstimator(steps=800, progress=False)
    with torch_threads(1):
        result = est.estimate(x, y)
    assert abs(result.value - t.mutual_information) < 0.1, result
    assert result.lower < result.value < result.upper
    assert get_registry().get("mi.estimator", "minde").factory is MINDEEstimator


def test_bad_input():
    x = torch.randn(10, 2, dtype=torch.float64)
    c, u = gaussian_denoisers(np.eye(4), 2)
    with pytest.raises(ValueError, match="same n"):
        minde_integral(x, x[:5], c, u)
    with pytest.raises(ValueError, match="sigma_min"):
        minde_integral(x, x, c, u, sigma_min=0.0)
    with pytest.raises(ValueError, match="valid_fraction"):
        MINDEEstimator(valid_fraction=1.5)
    with pytest.raises(ValueError, match="y has constant column"):
        MINDEEstimator().estimate(np.random.default_rng(0).standard_normal((50, 1)), np.ones((50, 1)))
