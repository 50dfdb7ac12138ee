"""I_NCE and I_NWJ on score matrices with closed-form values, the triplet hinge, and bad score matrices."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infomix.mi.representation.objectives import bound, objective_loss, triplet_loss  # noqa: E402


def scaled_identity(k, c):
    return c * torch.eye(k, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(5))
def test_nce_of_scaled_identity_is_closed_form_and_below_log_k(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        k = int(rng.integers(2, 300))
        c = float(rng.uniform(-20, 60))
        value = float(bound("nce", scaled_identity(k, c)))
        closed = math.log(k) + c - (c + math.log1p((k - 1) * math.exp(-c)))  # log(e^c + K − 1), stably
        assert value == pytest.approx(closed, abs=1e-10)
        assert value <= math.log(k) + 1e-12
    assert float(bound("nce", scaled_identity(128, 60.0))) == pytest.approx(math.log(128), abs=1e-12)


def test_nce_is_log_k_minus_cross_entropy_and_never_above_log_k():
    gen = torch.Generator().manual_seed(7)
    for _ in range(30):
        k = int(torch.randint(2, 100, (1,), generator=gen))
        scores = 8 * torch.randn(k, k, generator=gen, dtype=torch.float64)
        ce = torch.nn.functional.cross_entropy(scores, torch.arange(k))
        assert float(bound("nce", scores)) == pytest.approx(math.log(k) - float(ce), abs=1e-10)
        assert float(bound("nce", scores)) <= math.log(k)


def test_nwj_of_a_constant_matrix():
    """S ≡ c gives E_P[S] − E_Q[e^(S−1)] = c − e^(c−1): exactly 0 at c = 1, negative for every other c."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        k = int(rng.integers(2, 200))
        assert float(bound("nwj", torch.ones(k, k, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-14)
        c = float(rng.uniform(-5, 5))
        value = float(bound("nwj", torch.full((k, k), c, dtype=torch.float64)))
        assert value == pytest.approx(c - math.exp(c - 1), abs=1e-12)
        assert value < 0 or abs(c - 1) < 1e-6


def test_nwj_matches_the_tuba_form_and_is_permutation_invariant():
    """1 + mean_i (S_ii − 1) − exp(log-mean-exp over i ≠ j of S_ij − 1), computed independently in numpy."""
    gen = torch.Generator().manual_seed(11)
    for _ in range(10):
        k = int(torch.randint(2, 60, (1,), generator=gen))
        s = 3 * torch.randn(k, k, generator=gen, dtype=torch.float64)
        a = s.numpy()
        off = a[~np.eye(k, dtype=bool)] - 1
        lme = np.log(np.mean(np.exp(off - off.max()))) + off.max()
        expected = 1 + np.mean(np.diag(a) - 1) - np.exp(lme)
        assert float(bound("nwj", s)) == pytest.approx(expected, abs=1e-10)
        perm = torch.randperm(k, generator=gen)
        assert float(bound("nwj", s[perm][:, perm])) == pytest.approx(float(bound("nwj", s)), abs=1e-10)


def test_triplet_loss_against_a_double_loop():
    gen = torch.Generator().manual_seed(5)
    k = 13
    s = 2 * torch.randn(k, k, generator=gen, dtype=torch.float64)
    expected = sum(max(0.0, 1 - float(s[i, i]) + float(s[i, j])) for i in range(k) for j in range(k) if j != i) / k**2
    assert float(triplet_loss(s)) == pytest.approx(expected, abs=1e-12)
    separated = (-10 - s.abs()).fill_diagonal_(0.0)
    assert float(triplet_loss(separated)) == 0.0  # every positive beats every negative by more than the margin


def test_objective_loss_maximises_or_targets_the_bound():
    s = torch.randn(9, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert float(objective_loss("nce", s)) == pytest.approx(-float(bound("nce", s)), abs=1e-14)
    for t in (0.5, 2.0):
        assert float(objective_loss("nwj", s, target=t)) == pytest.approx(abs(float(bound("nwj", s)) - t), abs=1e-14)
    assert float(objective_loss("triplet", s)) == pytest.approx(float(triplet_loss(s)), abs=1e-14)


def test_bad_scores_and_names_are_clear_errors():
    with pytest.raises(ValueError, match="square"):
        bound("nce", torch.randn(4, 5))
    with pytest.raises(ValueError, match="square"):
        triplet_loss(torch.randn(1, 1))
    with pytest.raises(ValueError, match="unknown bound 'dv'"):
        bound("dv", torch.randn(4, 4))
    with pytest.raises(ValueError, match="target"):
        objective_loss("triplet", torch.randn(4, 4), target=1.0)
