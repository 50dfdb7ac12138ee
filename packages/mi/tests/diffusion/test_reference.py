"""The reference PF-ODE solve: exact against closed-form solutions on both schedules."""

import pytest
import torch

from infomix.mi.diffusion import EDMSchedule, GaussianMixture, GMMDenoiser, VPSchedule, reference_solve


@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
def test_reference_solve_matches_the_single_gaussian_solution(schedule):
    mean, var = torch.tensor([[1.0, -0.5]], dtype=torch.float64), 0.2
    den = GMMDenoiser(GaussianMixture(mean, [var]), schedule)
    gen = torch.Generator().manual_seed(3)
    x_T = schedule.sigma(schedule.t_max) * torch.randn(16, 2, generator=gen, dtype=torch.float64)
    out, calls = reference_solve(den, x_T)
    a0, s0 = schedule.alpha(schedule.t_max), schedule.sigma(schedule.t_max)
    a1, s1 = schedule.alpha(schedule.t_min), schedule.sigma(schedule.t_min)
    exact = a1 * mean + ((a1**2 * var + s1**2) / (a0**2 * var + s0**2)) ** 0.5 * (x_T - a0 * mean)
    torch.testing.assert_close(out, exact, rtol=1e-8, atol=1e-8)
    assert calls > 20


def test_reference_solve_checks_its_input():
    den = GMMDenoiser(GaussianMixture([[0.0]], [1.0]), "edm")
    with pytest.raises(ValueError, match="t_end must be in"):
        reference_solve(den, torch.zeros(3, 1, dtype=torch.float64), t_end=0.0)
