"""Self-consistency (Song & Ermon 2020): data processing and additivity over independent pairs."""

import numpy as np
import pytest

from infomix.mi import GaussianCopulaEstimator, KSGEstimator, TCopulaEstimator, task

ESTIMATORS = {
    "ksg": lambda: KSGEstimator(k=5, n_resamples=0),
    "copula": lambda: GaussianCopulaEstimator(n_bootstrap=0),
    "tcopula": lambda: TCopulaEstimator(n_bootstrap=0),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_data_processing_dropping_coordinates_loses_information(name):
    est = ESTIMATORS[name]()
    x, y = task("3v3-normal-2pair").sample(2000, seed=7)
    full = est.estimate(x, y).value
    one_pair = est.estimate(x[:, :1], y).value
    nothing = est.estimate(x[:, 2:], y).value  # coordinate 2 of x is independent of y
    assert full > one_pair + 0.3 > nothing + 0.3
    assert abs(nothing) < 0.05


@pytest.mark.parametrize("name", ESTIMATORS)
def test_additivity_over_independent_pairs(name):
    est = ESTIMATORS[name]()
    x1, y1 = task("1v1-normal-0.75").sample(2500, seed=1)
    x2, y2 = task("1v1-halfcube-0.75").sample(2500, seed=2)
    separate = est.estimate(x1, y1).value + est.estimate(x2, y2).value
    joint = est.estimate(np.c_[x1, x2], np.c_[y1, y2]).value
    tolerance = 0.12 if name == "ksg" else 0.05  # KSG loses a little more in 2×2 than in 1×1
    assert joint == pytest.approx(separate, abs=tolerance)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_invariance_under_the_spiral(name):
    t = task("3v3-spiral-2pair")
    base = task("3v3-normal-2pair")
    assert t.mutual_information == base.mutual_information
    est = ESTIMATORS[name]()
    plain = est.estimate(*base.sample(2000, seed=4)).value
    spun = est.estimate(*t.sample(2000, seed=4)).value
    assert spun < plain  # the spiral keeps MI but hides it from both estimators: a known failure
