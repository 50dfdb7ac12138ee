"""Meta-training data: reproducible from (seed, step), true MI of each family, hash of the generator."""

import numpy as np
import pytest

from infomix.mi import GaussianCopulaEstimator, KSGEstimator
from infomix.mi.learned.metadata import (
    HELD_OUT_FAMILIES,
    HELD_OUT_TRANSFORMS,
    MetaDataConfig,
    draw_batch,
    draw_task,
    generator_hash,
)

SMALL = MetaDataConfig(min_n=100, max_n=300, rows_per_batch=600, max_batch=4)


def test_batches_are_a_function_of_seed_and_step():
    a, b, c = draw_batch(3, 7, SMALL), draw_batch(3, 7, SMALL), draw_batch(3, 8, SMALL)
    np.testing.assert_array_equal(a.zx, b.zx)
    np.testing.assert_array_equal(a.mutual_information, b.mutual_information)
    assert a.zx.shape != c.zx.shape or not np.array_equal(a.zx, c.zx)


def test_batches_hold_normal_scores_within_the_bounds():
    for step in range(6):
        batch = draw_batch(0, step, SMALL)
        size, n, dx = batch.zx.shape
        assert 100 <= n <= 300 and 1 <= dx <= 5 and 1 <= batch.zy.shape[2] <= 5 and 1 <= size <= 4
        # every column is a permutation of the same normal scores
        expected = np.sort(batch.zx[0, :, 0])
        np.testing.assert_allclose(np.sort(batch.zx[-1, :, -1]), expected, rtol=1e-6)
        assert not set(batch.families) & set(HELD_OUT_FAMILIES)
        assert not any(t in HELD_OUT_TRANSFORMS for name in batch.transforms for t in name.split("+"))


@pytest.mark.parametrize("family", ["normal-pairs", "normal-dense", "normal-random"])
def test_gaussian_families_true_mi_agrees_with_a_large_sample(family):
    rng = np.random.default_rng(11)
    drawn = draw_task(rng, 20000, 3, 2, MetaDataConfig(), family=family, transform="identity")
    est = GaussianCopulaEstimator(n_bootstrap=0).estimate(drawn.x, drawn.y).value
    assert est == pytest.approx(drawn.mutual_information, abs=0.03 + 0.02 * drawn.mutual_information)


def test_additive_family_true_mi_agrees_with_ksg():
    rng = np.random.default_rng(2)
    drawn = draw_task(rng, 5000, 1, 1, MetaDataConfig(), family="additive-uniform")
    est = KSGEstimator(k=5, n_resamples=0).estimate(drawn.x, drawn.y).value
    assert est == pytest.approx(drawn.mutual_information, abs=0.06)


def test_generator_hash_depends_on_the_config():
    assert generator_hash(MetaDataConfig()) == generator_hash(MetaDataConfig())
    assert generator_hash(MetaDataConfig()) != generator_hash(MetaDataConfig(max_mi=4.0))
    assert len(generator_hash(MetaDataConfig())) == 64


def test_student_scale_family_is_uncorrelated_yet_dependent():
    rng = np.random.default_rng(5)
    drawn = draw_task(rng, 20000, 2, 2, MetaDataConfig(), family="student-scale", transform="identity")
    from infomix.mi.learned.features import normal_scores

    z = np.c_[normal_scores(drawn.x), normal_scores(drawn.y)]
    off_diagonal = np.corrcoef(z, rowvar=False)[:2, 2:]
    assert np.abs(off_diagonal).max() < 0.05  # no linear dependence between x and y ...
    assert drawn.mutual_information > 0.01  # ... but the shared scale carries information
    est = KSGEstimator(k=5, n_resamples=0).estimate(drawn.x[:5000], drawn.y[:5000]).value
    assert est > 0.5 * drawn.mutual_information


@pytest.mark.parametrize("transform", ["spiral", "coupling"])
def test_mixing_transforms_keep_the_true_mi_and_move_the_ranks(transform):
    plain = draw_task(
        np.random.default_rng(8), 3000, 3, 3, MetaDataConfig(), family="normal-pairs", transform="identity"
    )
    mixed = draw_task(
        np.random.default_rng(8), 3000, 3, 3, MetaDataConfig(), family="normal-pairs", transform=transform
    )
    assert mixed.mutual_information == plain.mutual_information
    assert mixed.transform == transform
    assert not np.allclose(np.argsort(mixed.x[:, 0]), np.argsort(plain.x[:, 0]))


def test_student_scale_mi_spans_the_configured_degrees_of_freedom():
    from infomix.mi.tasks import StudentTask

    config = MetaDataConfig(min_dof=0.5, max_dof=2.0)
    rng = np.random.default_rng(9)
    mis = [draw_task(rng, 100, 1, 1, config, family="student-scale").mutual_information for _ in range(200)]
    # with identity dispersion the MI falls as dof grows, so it must lie between its values at the two ends
    highest, lowest = StudentTask(1, 1, dof=0.5).mutual_information, StudentTask(1, 1, dof=2.0).mutual_information
    assert lowest - 1e-12 <= min(mis) and max(mis) <= highest + 1e-12
    assert max(mis) > StudentTask(1, 1, dof=0.6).mutual_information  # the new low end is actually drawn
    assert min(mis) < StudentTask(1, 1, dof=1.8).mutual_information


@pytest.mark.parametrize("bounds", [(0.0, 10.0), (3.0, 2.0), (-1.0, 1.0)])
def test_degrees_of_freedom_bounds_are_checked(bounds):
    with pytest.raises(ValueError, match="min_dof"):
        MetaDataConfig(min_dof=bounds[0], max_dof=bounds[1])


@pytest.mark.parametrize("random_signs", [True, False])
def test_random_signs_hide_the_sign_pattern_of_the_dense_family(random_signs):
    rng = np.random.default_rng(8)
    config = MetaDataConfig(random_signs=random_signs, zero_mi_fraction=0.0)
    signs = []
    for _ in range(80):
        drawn = draw_task(rng, 400, 1, 1, config, family="normal-dense", transform="identity")
        if drawn.mutual_information > 0.2:  # |correlation| > 0.5, its sign is plain at n = 400
            signs.append(np.sign(np.corrcoef(drawn.x[:, 0], drawn.y[:, 0])[0, 1]))
    assert len(signs) > 20
    if random_signs:
        assert 0.2 < np.mean(np.array(signs) > 0) < 0.8
    else:
        assert all(s > 0 for s in signs)  # the dense covariances' correlations are all positive
