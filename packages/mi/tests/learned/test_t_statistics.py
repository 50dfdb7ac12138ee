"""The quick batched t-copula fit the network's head reads: against exact quantiles and the full tcopula fit."""

import math

import numpy as np
import pytest
import torch
from scipy.special import ndtr, stdtrit

from infomix.mi.learned.features import gaussian_mi_of_scores, normal_scores
from infomix.mi.learned.t_statistics import (
    DOF_GRID,
    _rank_levels,
    copula_and_t_statistics,
    t_scores,
)
from infomix.mi.tasks import GaussianTask, StudentTask
from infomix.mi.tcopula import TCopulaEstimator


def _scores(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(normal_scores(x))[None], torch.from_numpy(normal_scores(y))[None]


def test_t_scores_match_exact_quantiles():
    z = np.random.default_rng(0).uniform(-5.5, 5.5, size=(3, 7))
    q = t_scores(z)
    assert q.shape == (len(DOF_GRID), 3, 7)
    for row, dof in zip(q, DOF_GRID, strict=True):
        np.testing.assert_allclose(row, stdtrit(dof, ndtr(z)), rtol=2e-5)
    with pytest.raises(ValueError, match="normal scores must lie within"):
        t_scores(np.array([[0.0, 6.5]]))


@pytest.mark.parametrize(("dim", "dof", "seed"), [(1, 1.0, 1), (2, 3.0, 2), (3, 2.0, 3)])
def test_agrees_with_the_full_tcopula_fit_on_student_samples(dim, dof, seed):
    task = StudentTask(dim, dim, dof=dof, dispersion=None)
    x, y = task.sample(3000, seed)
    copula, difference, inverse_dof = copula_and_t_statistics(*_scores(x, y))[0]
    full = TCopulaEstimator(n_bootstrap=0).estimate(x, y)
    assert float(copula + difference) == pytest.approx(full.value, abs=0.05)
    assert float(copula + difference) == pytest.approx(task.mutual_information, abs=0.06)
    assert 1.0 / float(inverse_dof) == pytest.approx(full.info["dof"], rel=0.25)


def test_gaussian_samples_read_as_gaussian():
    x, y = GaussianTask(dim=2, rho=0.6).sample(3000, 4)
    _, difference, inverse_dof = copula_and_t_statistics(*_scores(x, y))[0]
    assert abs(float(difference)) < 0.01 and float(inverse_dof) < 0.02


def test_batch_items_are_fitted_independently_and_rows_and_signs_do_not_matter():
    rng = np.random.default_rng(5)
    samples = [StudentTask(2, 1, dof=d).sample(400, s) for s, d in ((6, 1.0), (7, 4.0), (8, 50.0))]
    zx = torch.cat([_scores(x, y)[0] for x, y in samples])
    zy = torch.cat([_scores(x, y)[1] for x, y in samples])
    batched = copula_and_t_statistics(zx, zy)
    alone = torch.cat([copula_and_t_statistics(zx[i : i + 1], zy[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, alone, rtol=1e-6, atol=1e-9)
    assert batched[:, 2].argsort().tolist() == [2, 1, 0]  # 1/dof orders the heavier tails first
    perm = torch.from_numpy(rng.permutation(400))
    torch.testing.assert_close(copula_and_t_statistics(zx[:, perm], -zy[:, perm]), batched, rtol=1e-6, atol=1e-6)


def test_bad_shapes_are_named():
    z = torch.randn(2, 50, 2)
    with pytest.raises(ValueError, match="must agree in B and n"):
        copula_and_t_statistics(z, z[:, :40])
    with pytest.raises(ValueError, match="must agree in B and n"):
        copula_and_t_statistics(z[0], z[0])


def test_independent_heavy_tails_give_no_tail_dependence():
    rng = np.random.default_rng(9)
    x, y = rng.standard_t(1.0, size=(3000, 2)), rng.standard_t(1.0, size=(3000, 2))
    _, difference, _ = copula_and_t_statistics(*_scores(x, y))[0]
    assert math.isfinite(float(difference)) and abs(float(difference)) < 0.02


def test_rank_levels_index_normal_scores_without_a_sort_and_anything_else_by_unique():
    rng = np.random.default_rng(10)
    x = np.round(rng.normal(size=(300, 3)), 1)  # ties: average ranks, half-integer levels
    scores = normal_scores(x).astype(np.float64)[None]
    for z in (scores, rng.normal(size=(2, 50, 3))):  # normal scores of ranks, then arbitrary values
        levels, index = _rank_levels(z)
        assert index.shape == (z.shape[0], z.shape[1] * z.shape[2])
        np.testing.assert_array_equal(levels[index], z.reshape(index.shape))
    assert _rank_levels(scores)[0].size == 2 * 300 + 3  # the sort-free path: one slot per half rank


def test_the_copula_column_is_the_gaussian_copula_input():
    x, y = StudentTask(2, 3, dof=2.0).sample(500, 11)
    zx, zy = _scores(x, y)
    both = copula_and_t_statistics(zx, zy)
    torch.testing.assert_close(both[:, 0], gaussian_mi_of_scores(zx, zy), atol=1e-6, rtol=0)
