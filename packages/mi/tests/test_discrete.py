"""Discrete plug-in and histogram estimators: closed form, Miller–Madow, asymptotic intervals, invariance."""

import numpy as np
import pytest

from infomix.core.testing import check_mi_estimator
from infomix.mi import DiscreteEstimator, DiscreteTask, HistogramEstimator, task
from infomix.mi.discrete import contingency, plugin_mi


def test_plugin_value_matches_table_definition():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 3, 500), rng.integers(0, 4, 500)
    y = np.where(rng.random(500) < 0.5, x, y)
    table = contingency(x, y)
    p = table / table.sum()
    expected = sum(
        p[i, j] * np.log(p[i, j] / (p[i].sum() * p[:, j].sum())) for i in range(3) for j in range(4) if p[i, j] > 0
    )
    assert plugin_mi(table)[0] == pytest.approx(expected, rel=1e-12)
    raw = DiscreteEstimator(correction="none").estimate(x, y).value
    assert raw == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["discrete-binary-symmetric-0.1", "discrete-4x3-random"])
def test_closed_form_and_interval_coverage(name):
    t = task(name)
    hits, values = 0, []
    for seed in range(100):
        r = DiscreteEstimator().estimate(*t.sample(400, seed=seed))
        values.append(r.value)
        hits += r.lower <= t.mutual_information <= r.upper
    assert np.mean(values) == pytest.approx(t.mutual_information, abs=0.01)
    assert 0.8 <= hits / 100 <= 0.98  # nominal 0.9


def test_miller_madow_reduces_bias_under_independence():
    t = DiscreteTask(np.full((6, 5), 1 / 30))
    mm, raw = [], []
    for seed in range(100):
        x, y = t.sample(200, seed=seed)
        mm.append(DiscreteEstimator().estimate(x, y).value)
        raw.append(DiscreteEstimator(correction="none").estimate(x, y).value)
    assert np.mean(raw) == pytest.approx(20 / 400, rel=0.25)  # (K_x − 1)(K_y − 1)/(2n) upward bias
    assert abs(np.mean(mm)) < 0.2 * np.mean(raw)
    covered = [DiscreteEstimator().estimate(*t.sample(200, seed=s)).lower <= 0 for s in range(30)]
    assert np.mean(covered) > 0.8


def test_labels_of_any_type_and_multicolumn_symbols():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, (300, 2))
    words = np.array(["p", "q", "r", "s"])[a[:, 0] * 2 + a[:, 1]]
    by_pairs = DiscreteEstimator().estimate(a, a[:, 0]).value
    by_words = DiscreteEstimator().estimate(words, a[:, 0]).value
    assert by_pairs == pytest.approx(by_words, rel=1e-12)


def test_histogram_exactly_invariant_under_increasing_maps():
    x, y = task("1v1-normal-0.75").sample(2000, seed=2)
    est = HistogramEstimator()
    assert est.estimate(np.exp(x), y**3).value == pytest.approx(est.estimate(x, y).value, rel=1e-12)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_histogram_approaches_continuous_mi(strategy):
    t = task("1v1-normal-0.75")
    r = HistogramEstimator(strategy=strategy).estimate(*t.sample(20_000, seed=3))
    assert r.value == pytest.approx(t.mutual_information, abs=0.06)
    assert r.lower <= r.value <= r.upper and r.info["bins"] == 44


def test_histogram_independence_and_conformance():
    x, y = task("5v5-independent").sample(3000, seed=4)
    assert abs(HistogramEstimator().estimate(x[:, :1], y[:, :2]).value) < 0.02
    check_mi_estimator(HistogramEstimator(), tolerance=0.12)


def test_bad_input():
    with pytest.raises(ValueError, match="correction"):
        DiscreteEstimator(correction="jackknife")
    with pytest.raises(ValueError, match="bins"):
        HistogramEstimator(bins=1)
    with pytest.raises(ValueError, match="x contains NaN"):
        DiscreteEstimator().estimate(np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="same number of samples"):
        DiscreteEstimator().estimate([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="x has constant column"):
        HistogramEstimator().estimate(np.ones(30), np.arange(30.0))


def test_histogram_in_many_dimensions_does_not_overflow_cell_labels():
    x, y = task("25v25-normal-dense-0.5").sample(400, seed=6)  # 2 bins per coordinate: 2**50 possible cells
    r = HistogramEstimator().estimate(x, y)
    assert r.info["bins"] == 2 and r.info["cells"] <= 400 and r.value > 0
