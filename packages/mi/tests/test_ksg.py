"""KSG 1 and 2: KD-tree counts equal the O(n²) reference, closed-form MI, independence, intervals, bad input."""

import numpy as np
import pytest

from infomix.core.testing import check_mi_estimator
from infomix.mi import KSG2Estimator, KSGEstimator, task
from infomix.mi.ksg import ksg_counts_exact, ksg_counts_kdtree


def correlated_sample(n, dx, dy, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    mix = rng.standard_normal((dx, dy))
    y = x @ mix + rng.standard_normal((n, dy))
    return x, y


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize(("dx", "dy", "k"), [(1, 1, 1), (2, 3, 3), (4, 2, 7)])
def test_kdtree_counts_equal_exact_reference(variant, dx, dy, k):
    x, y = correlated_sample(300, dx, dy, seed=dx * 7 + dy + k)
    fast = ksg_counts_kdtree(x, y, k, variant)
    slow = ksg_counts_exact(x, y, k, variant)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[0].min() >= (k if variant == 2 else 0)


@pytest.mark.parametrize("estimator_cls", [KSGEstimator, KSG2Estimator])
def test_fast_and_exact_estimators_agree(estimator_cls):
    x, y = task("3v3-halfcube-2pair").sample(250, seed=3)
    fast = estimator_cls(k=4, n_resamples=0).estimate(x, y).value
    exact = estimator_cls(k=4, n_resamples=0, exact=True).estimate(x, y).value
    assert fast == exact


@pytest.mark.parametrize("variant", [1, 2])
def test_closed_form_gaussian(variant):
    t = task("1v1-normal-0.75")
    values = [
        KSGEstimator(k=5, variant=variant, n_resamples=0).estimate(*t.sample(2000, seed=s)).value for s in range(6)
    ]
    assert np.mean(values) == pytest.approx(t.mutual_information, abs=0.03)


def test_known_downward_bias_in_more_dimensions():
    t = task("3v3-normal-2pair")
    value = KSGEstimator(k=5, n_resamples=0).estimate(*t.sample(2000, seed=1)).value
    assert t.mutual_information - 0.25 < value < t.mutual_information  # 0.90 at n=2000 (true 1.02)


def test_independence_gives_about_zero():
    x, y = task("5v5-independent").sample(800, seed=2)
    assert abs(KSGEstimator(n_resamples=0).estimate(x, y).value) < 0.05


def test_invariant_under_monotone_maps_within_tolerance():
    x, y = task("1v1-normal-0.75").sample(3000, seed=5)
    est = KSGEstimator(k=5, n_resamples=0)
    base = est.estimate(x, y).value
    assert est.estimate(np.arcsinh(3 * x), y**3).value == pytest.approx(base, abs=0.04)
    assert est.estimate(5 * x - 2, 0.1 * y).value == pytest.approx(
        base, abs=1e-9
    )  # standardised: exactly affine-invariant


def test_subsampling_interval_matches_the_spread_over_samples():
    t = task("1v1-normal-0.75")
    values, widths, hits = [], [], 0
    for seed in range(16):
        r = KSGEstimator(k=5, n_resamples=30, seed=seed).estimate(*t.sample(600, seed=100 + seed))
        assert r.lower <= r.value <= r.upper
        assert r.info["interval"] == "half-sample subsampling" and r.info["confidence"] == 0.9
        values.append(r.value)
        widths.append(r.upper - r.lower)
        hits += r.lower <= t.mutual_information <= r.upper
    implied_sd = np.mean(widths) / (2 * 1.6449)
    assert 0.6 < implied_sd / np.std(values, ddof=1) < 1.6
    assert hits >= 9  # measured about 0.75-0.8 coverage at nominal 0.9 (see the benchmark)


def test_bootstrap_option_runs_and_is_labelled():
    x, y = task("1v1-normal-0.75").sample(300, seed=1)
    r = KSGEstimator(interval="bootstrap", n_resamples=20).estimate(x, y)
    assert r.info["interval"] == "basic bootstrap" and r.lower <= r.value <= r.upper


def test_conformance():
    check_mi_estimator(KSGEstimator(n_resamples=10))
    check_mi_estimator(KSG2Estimator(n_resamples=0))


@pytest.mark.parametrize(
    ("x", "y", "error", "message"),
    [
        (np.random.default_rng(0).standard_normal(3), np.arange(3.0), ValueError, r"n >= k \+ 1 = 4"),
        (np.ones(50), np.random.default_rng(0).standard_normal(50), ValueError, "x has constant column"),
        (np.arange(50.0), np.r_[np.arange(49.0), np.inf], ValueError, "y contains NaN or infinite"),
        (np.arange(10.0), np.arange(11.0), ValueError, "same number of samples"),
        (np.array(["a"] * 10), np.arange(10.0), TypeError, "x must be numeric"),
    ],
)
def test_bad_input_names_the_argument(x, y, error, message):
    with pytest.raises(error, match=message):
        KSGEstimator(n_resamples=0).estimate(x, y)


def test_bad_parameters():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        KSGEstimator(k=0)
    with pytest.raises(ValueError, match="variant"):
        KSGEstimator(variant=3)
    with pytest.raises(ValueError, match="interval"):
        KSGEstimator(interval="jackknife")


def test_exact_reference_refuses_huge_inputs():
    x = np.random.default_rng(0).standard_normal((20_000, 1))
    with pytest.raises(ValueError, match="exact=True builds"):
        ksg_counts_exact(x, x, 3, 1)
