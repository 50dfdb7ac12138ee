"""Student-t-copula estimator: closed forms on Student-t and Gaussian samples, the likelihood, invariance, bad input."""

import math

import numpy as np
import pytest
from scipy import stats

from infomix.core.testing import check_mi_estimator
from infomix.mi import GaussianCopulaEstimator, StudentTask, TCopulaEstimator, task
from infomix.mi.tcopula import (
    fit_correlation,
    fit_dof,
    kendall_correlation,
    pseudo_observations,
    t_copula_loglik,
    t_copula_mi,
)


@pytest.mark.parametrize(("dims", "dof"), [((1, 1), 1.0), ((2, 3), 2.5), ((3, 3), 6.0)])
def test_recovers_student_t_mi_where_the_gaussian_copula_misses_the_shared_scale(dims, dof):
    rng = np.random.default_rng(sum(dims))
    d = sum(dims)
    factor = rng.normal(size=(d, 2))
    cov = factor @ factor.T + np.eye(d)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    t = StudentTask(*dims, dof=dof, dispersion=corr)
    x, y = t.sample(4000, seed=int(dof * 10))
    result = TCopulaEstimator(n_bootstrap=0).estimate(x, y)
    copula = GaussianCopulaEstimator(n_bootstrap=0).estimate(x, y).value
    assert result.value == pytest.approx(t.mutual_information, abs=0.03)
    assert result.info["dof"] == pytest.approx(dof, rel=0.25)
    assert t.mutual_information - copula > 0.05  # the tail term the Gaussian copula cannot see


def test_gaussian_samples_give_a_gaussian_copula_and_the_gaussian_mi():
    t = task("5v5-normal-dense-0.5")
    x, y = t.sample(4000, seed=3)
    result = TCopulaEstimator(n_bootstrap=0).estimate(x, y)
    assert result.info["dof"] > 50  # ν → ∞ is the Gaussian copula
    assert result.value == pytest.approx(t.mutual_information, abs=0.03)
    assert result.info["gaussian_part"] == pytest.approx(result.value, abs=0.01)


def test_independence_reads_near_zero():
    x, y = task("5v5-independent").sample(3000, seed=5)
    assert abs(TCopulaEstimator(n_bootstrap=0).estimate(x, y).value) < 0.03


def test_exactly_invariant_under_increasing_maps():
    x, y = task("2v2-student-dof2").sample(600, seed=4)
    est = TCopulaEstimator(n_bootstrap=0)
    assert est.estimate(np.arcsinh(x) * 3 + 1, np.exp(y)).value == est.estimate(x, y).value


def test_kendall_correlation_is_sin_of_tau_and_a_correlation_matrix():
    z = np.random.default_rng(0).normal(size=(300, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1.0]])
    corr = kendall_correlation(z)
    tau = stats.kendalltau(z[:, 0], z[:, 1]).statistic
    assert corr[0, 1] == pytest.approx(math.sin(math.pi * tau / 2), rel=1e-12)
    # six rows, eight columns: the pairwise matrix is indefinite and gets repaired, its eigenvalues raised to the
    # size of the most negative one (the pairwise noise), not to a tiny floor that would read as huge MI
    small = np.random.default_rng(1).normal(size=(6, 8))
    pairwise = np.array([[math.sin(math.pi * stats.kendalltau(a, b).statistic / 2) for b in small.T] for a in small.T])
    most_negative = np.linalg.eigvalsh(pairwise)[0]
    assert most_negative < 0
    few = kendall_correlation(small)
    assert np.allclose(np.diag(few), 1.0) and np.allclose(few, few.T)
    assert np.linalg.eigvalsh(few)[0] > 0.3 * -most_negative


def test_em_correlation_is_the_normal_scores_correlation_at_infinite_dof_and_recovers_a_t_copulas():
    from infomix.mi.copula import copula_normalize

    z = np.random.default_rng(4).normal(size=(500, 3)) @ np.array([[1, 0.8, 0], [0, 1, 0.5], [0, 0, 1.0]])
    np.testing.assert_allclose(
        fit_correlation(pseudo_observations(z), np.eye(3), math.inf), np.corrcoef(copula_normalize(z).T), atol=1e-12
    )
    corr = np.array([[1.0, 0.9, 0.3], [0.9, 1.0, 0.2], [0.3, 0.2, 1.0]])
    t_sample = np.hstack(StudentTask(1, 2, dof=2.0, dispersion=corr).sample(6000, seed=3))
    ranks = pseudo_observations(t_sample)
    fitted = fit_correlation(ranks, kendall_correlation(t_sample), 2.0)
    assert np.abs(fitted - corr).max() < 0.03
    np.testing.assert_allclose(fit_correlation(ranks, fitted, 2.0, iterations=1), fitted, atol=1e-6)  # converged


def test_copula_loglik_equals_the_joint_t_density_over_its_margins():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(50, 3))
    corr = np.array([[1.0, 0.4, -0.2], [0.4, 1.0, 0.1], [-0.2, 0.1, 1.0]])
    values, index = pseudo_observations(z)
    dof = 3.7
    got = t_copula_loglik(values, index, np.linalg.inv(corr), float(np.linalg.slogdet(corr)[1]), dof)
    q = stats.t.ppf(values[index], dof)
    expected = stats.multivariate_t(np.zeros(3), corr, df=dof).logpdf(q).sum() - stats.t.logpdf(q, dof).sum()
    assert got == pytest.approx(expected, rel=1e-10)


def test_fit_dof_finds_the_sampled_dof_and_the_gaussian_limit():
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    heavy = np.hstack(StudentTask(1, 1, dof=1.5, dispersion=corr).sample(5000, seed=1))
    assert fit_dof(pseudo_observations(heavy), kendall_correlation(heavy)) == pytest.approx(1.5, rel=0.2)
    normal = np.random.default_rng(3).multivariate_normal([0, 0], corr, size=5000)
    assert fit_dof(pseudo_observations(normal), kendall_correlation(normal)) > 50


def test_t_copula_mi_is_the_student_closed_form():
    corr = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.6], [0.2, 0.6, 1.0]])
    assert t_copula_mi(corr, 1, 2.0) == pytest.approx(StudentTask(1, 2, dof=2.0, dispersion=corr).mutual_information)
    gaussian = 0.5 * (np.linalg.slogdet(corr[1:, 1:])[1] - np.linalg.slogdet(corr)[1])  # ½ log(det C_yy / det C)
    assert t_copula_mi(corr, 1, math.inf) == pytest.approx(gaussian, rel=1e-12)
    assert t_copula_mi(corr, 1, 2.0) > t_copula_mi(corr, 1, 20.0) > gaussian  # heavier tails, more shared scale


def test_bootstrap_interval_holds_the_value_and_none_without_resamples():
    x, y = task("1v1-student-dof1").sample(400, seed=6)
    result = TCopulaEstimator(n_bootstrap=30).estimate(x, y)
    assert result.lower <= result.value <= result.upper and result.info["interval"] == "basic bootstrap"
    bare = TCopulaEstimator(n_bootstrap=0).estimate(x, y)
    assert bare.lower is None and bare.upper is None and bare.value == result.value


def test_resamples_with_a_constant_column_drop_it():
    # x takes two values, one of them once: many bootstrap resamples hold x constant (MI 0 there)
    x, y = np.r_[np.zeros(11), 1.0], np.random.default_rng(0).normal(size=12)
    result = TCopulaEstimator(n_bootstrap=50).estimate(x, y)  # no warning (they are errors in this suite), no NaN
    assert np.isfinite([result.value, result.lower, result.upper]).all()
    est = TCopulaEstimator(n_bootstrap=0)
    assert est.fit(np.c_[np.zeros(12), y], 1) == (0.0, math.inf, 0.0)
    z = np.c_[np.random.default_rng(1).normal(size=(40, 2)), y.repeat(4)[:40]]
    assert est.fit(np.c_[z[:, :1], np.ones(40), z[:, 1:]], 2) == est.fit(z, 1)


def test_conformance():
    check_mi_estimator(TCopulaEstimator(n_bootstrap=10))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="y has constant column"):
        TCopulaEstimator(n_bootstrap=0).estimate(np.arange(20.0), np.c_[np.arange(20.0), np.ones(20)])
    with pytest.raises(ValueError, match="n_bootstrap must be >= 0"):
        TCopulaEstimator(n_bootstrap=-1)
    with pytest.raises(ValueError, match="z must be"):
        kendall_correlation(np.ones(5))
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        fit_correlation(pseudo_observations(np.random.default_rng(0).normal(size=(9, 2))), np.eye(2), 3.0, 0)
    with pytest.raises(ValueError, match=r"dim_x must be in \[1, 1\]"):
        t_copula_mi(np.eye(2), 2, 3.0)
    with pytest.raises(ValueError, match="dof must be > 0"):
        t_copula_mi(np.eye(2), 1, 0.0)
