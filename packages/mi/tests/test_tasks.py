"""Tasks: published ground truths, Monte-Carlo checks of the closed forms, invertible transforms, names."""

import math

import numpy as np
import pytest
from scipy import stats

from infomix.mi import NAMED_TASKS, GaussianTask, StudentTask, TransformedTask, task
from infomix.mi.tasks import TRANSFORMS, coupling, spiral, uncoupling


def test_mutual_information_formula_and_sample_correlation():
    t = GaussianTask(dim=3, rho=0.6)
    assert t.mutual_information == pytest.approx(-1.5 * math.log(1 - 0.36))
    x, y = t.sample(50_000, seed=0)
    corr = np.corrcoef(x[:, 1], y[:, 1])[0, 1]
    assert corr == pytest.approx(0.6, abs=0.01)
    assert abs(np.corrcoef(x[:, 0], y[:, 2])[0, 1]) < 0.02


def test_reproducible_and_validated():
    a = GaussianTask().sample(10, seed=3)
    b = GaussianTask().sample(10, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="rho"):
        GaussianTask(rho=1.0)
    with pytest.raises(ValueError, match=r"unknown task '1v1-normal-0.7'.*did you mean"):
        task("1v1-normal-0.7")
    with pytest.raises(ValueError, match="transform"):
        TransformedTask(GaussianTask(), "cube")


# Ground truths of the "Beyond Normal" benchmark tasks (Czyż et al. 2023), from their closed forms.
PUBLISHED = {
    "1v1-normal-0.75": 0.4133,
    "1v1-additive-0.1": 1.7094,
    "1v1-additive-0.75": 0.3333,
    "1v1-student-dof1": 0.2242,
    "2v2-normal-dense-0.5": 0.2939,
    "5v5-normal-dense-0.5": 0.5928,
    "25v25-normal-dense-0.5": 1.2922,
    "25v25-normal-2pair": 1.0217,
    "2v2-student-dof1": 0.4319,
    "2v2-student-dof2": 0.1931,
    "3v3-student-dof3": 0.1787,
    "5v5-student-dof2": 0.4482,
    "5v5-student-dof3": 0.2985,
}


@pytest.mark.parametrize(("name", "value"), PUBLISHED.items())
def test_published_ground_truth(name, value):
    assert task(name).mutual_information == pytest.approx(value, abs=6e-5)


@pytest.mark.parametrize(("dx", "dy", "dof"), [(1, 1, 1.0), (2, 3, 2.5)])
def test_student_closed_form_matches_monte_carlo_log_density_ratio(dx, dy, dof):
    rng = np.random.default_rng(dx + dy)
    a = rng.standard_normal((dx + dy, dx + dy))
    dispersion = a @ a.T / (dx + dy) + np.eye(dx + dy)
    t = StudentTask(dx, dy, dof, dispersion)
    x, y = t.sample(200_000, seed=1)
    joint = stats.multivariate_t(np.zeros(dx + dy), dispersion, df=dof).logpdf(np.c_[x, y])
    px = stats.multivariate_t(np.zeros(dx), dispersion[:dx, :dx], df=dof).logpdf(x)
    py = stats.multivariate_t(np.zeros(dy), dispersion[dx:, dx:], df=dof).logpdf(y)
    ratio = joint - px.reshape(-1) - py.reshape(-1)
    assert t.mutual_information == pytest.approx(ratio.mean(), abs=4 * ratio.std() / math.sqrt(ratio.size))


def test_discrete_and_label_tasks_match_monte_carlo():
    t = task("label3-gaussian")
    x, y = t.sample(200_000, seed=2)
    means = t.means[:, None]
    log_cond = stats.norm.logpdf(y[:, 0], t.means[x[:, 0]], t.sigma)
    log_marg = np.log(np.mean(stats.norm.pdf(y[:, 0][None, :], means, t.sigma), axis=0))
    ratio = log_cond - log_marg
    assert t.mutual_information == pytest.approx(ratio.mean(), abs=4 * ratio.std() / math.sqrt(ratio.size))
    d = task("discrete-binary-symmetric-0.1")
    h = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    assert d.mutual_information == pytest.approx(math.log(2) - h(0.1), rel=1e-12)


@pytest.mark.parametrize("name", [n for n in TRANSFORMS if n not in ("identity", "spiral", "coupling")])
def test_coordinatewise_transforms_are_strictly_increasing(name):
    grid = np.linspace(-6, 6, 20001)[:, None]
    assert np.all(np.diff(TRANSFORMS[name](grid)[:, 0]) > 0)


def test_spiral_keeps_norms_and_is_inverted_by_rotating_back():
    z = np.random.default_rng(3).standard_normal((500, 4))
    w = spiral(z, speed=0.7)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), np.linalg.norm(z, axis=1), rtol=1e-12)
    np.testing.assert_allclose(spiral(w, speed=-0.7), z, atol=1e-10)
    assert np.abs(w - z).max() > 1.0


def test_coupling_is_inverted_layer_by_layer_and_changes_the_ranks():
    z = np.random.default_rng(4).standard_normal((500, 3))
    u = coupling(z)
    np.testing.assert_allclose(uncoupling(u), z, atol=1e-12)
    np.testing.assert_array_equal(u[:, 2], z[:, 2])
    order_changed = np.argsort(u[:, 1]) != np.argsort(z[:, 1])
    assert order_changed.mean() > 0.5  # not a coordinatewise increasing map: ranks move
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        coupling(z[:, :1])


@pytest.mark.parametrize("name", NAMED_TASKS)
def test_every_named_task_samples_its_shape(name):
    t = task(name)
    x, y = t.sample(64, seed=0)
    assert x.shape == (64, t.dim_x) and y.shape == (64, t.dim_y)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert t.mutual_information >= 0 and t.name == name
    assert name.startswith(f"{t.dim_x}v{t.dim_y}-") or "discrete" in name or "label" in name
