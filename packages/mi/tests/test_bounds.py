"""Variational bounds on score matrices: optimal critics give the true MI, InfoNCE's log b ceiling, MINE's gradient."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infomix.mi.bounds import MovingAverage, dv, infonce, js_objective, nwj, reported_value, smile  # noqa: E402

RHO = 0.6
TRUE = -0.5 * math.log(1 - RHO**2)


def optimal_scores(b, seed):
    """S[i, j] = log p(x_i, y_j) / (p(x_i) p(y_j)) for a bivariate normal: the optimal DV/InfoNCE/JS critic."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, generator=gen, dtype=torch.float64)
    y = RHO * x + math.sqrt(1 - RHO**2) * torch.randn(b, generator=gen, dtype=torch.float64)
    xi, yj = x[:, None], y[None, :]
    q = 1 - RHO**2
    return -0.5 * math.log(q) - (xi**2 - 2 * RHO * xi * yj + yj**2) / (2 * q) + (xi**2 + yj**2) / 2


@pytest.mark.parametrize("bound", ["dv", "mine", "smile", "js", "infonce"])
def test_optimal_critic_recovers_true_mi(bound):
    scores = optimal_scores(1200, seed=1)
    assert float(reported_value(bound, scores, tau=50.0)) == pytest.approx(TRUE, abs=0.04)


def test_nwj_optimum_is_one_plus_log_ratio():
    scores = optimal_scores(1200, seed=2)
    assert float(nwj(scores + 1.0)) == pytest.approx(TRUE, abs=0.04)
    assert float(nwj(scores + 1.0)) > float(nwj(scores + 1.5))  # shifting away from the optimum loses


def test_infonce_never_exceeds_log_batch_size():
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        b = int(torch.randint(2, 64, (1,), generator=gen))
        scores = 5 * torch.randn(b, b, generator=gen, dtype=torch.float64)
        assert float(infonce(scores)) <= math.log(b) + 1e-12
    separated = torch.full((16, 16), -30.0, dtype=torch.float64).fill_diagonal_(30.0)
    assert float(infonce(separated)) == pytest.approx(math.log(16), abs=1e-9)


def test_smile_clipping():
    scores = 3 * torch.randn(40, 40, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert float(smile(scores, tau=1e6)) == pytest.approx(float(dv(scores)), rel=1e-12)
    clipped = scores.clone()
    off = ~torch.eye(40, dtype=torch.bool)
    clipped[off] = clipped[off].clamp(-1.0, 1.0)
    assert float(smile(scores, tau=1.0)) == pytest.approx(float(dv(clipped)), rel=1e-12)


def test_js_objective_is_maximised_by_the_log_ratio():
    scores = optimal_scores(800, seed=4)
    best = float(js_objective(scores))
    for shift in (-0.5, 0.5):
        assert float(js_objective(scores + shift)) < best
    assert float(js_objective(scores * 1.3)) < best


def test_mine_first_gradient_equals_dv_and_later_uses_the_average():
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    base = torch.randn(30, 30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    average = MovingAverage(0.9)
    (g_mine,) = torch.autograd.grad(average.mine_loss(w * base), w)
    (g_dv,) = torch.autograd.grad(-dv(w * base), w)
    assert float(g_mine) == pytest.approx(float(g_dv), rel=1e-10)
    off = base[~torch.eye(30, dtype=torch.bool)]
    first = torch.exp(0.7 * off).mean()
    average.mine_loss(w * base)  # a second batch updates the average: 0.9·first + 0.1·second
    expected = 0.9 * first + 0.1 * torch.exp(0.7 * off).mean()
    assert float(torch.exp(average.value)) == pytest.approx(float(expected), rel=1e-10)
    with pytest.raises(ValueError, match="ema_decay"):
        MovingAverage(1.0)
    np.testing.assert_allclose(float(torch.exp(average.value)), float(first), rtol=1e-10)
