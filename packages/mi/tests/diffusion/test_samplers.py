"""ODE samplers: DDIM first steps, exact solutions (constant denoiser, single Gaussian), orders, call counts, errors."""

import itertools
import math

import numpy as np
import pytest
import torch

from infomix.core import get_registry
from infomix.core.testing import check_component
from infomix.mi.diffusion import (
    GRIDS,
    SAMPLERS,
    EDMSchedule,
    GaussianMixture,
    GMMDenoiser,
    VPSchedule,
    four_mode_mixture,
    make_sampler,
    time_grid,
)
from infomix.mi.diffusion.samplers.evodiff import projection


class Recording:
    """A denoiser wrapper remembering every (x, t) it was called with."""

    def __init__(self, denoiser):
        self.denoiser, self.schedule, self.inputs = denoiser, denoiser.schedule, []

    def __call__(self, x, t):
        self.inputs.append((x.clone(), t))
        return self.denoiser(x, t)


class Constant:
    """x̂0 ≡ c: the PF-ODE is linear with a closed-form solution."""

    def __init__(self, c, schedule):
        self.c, self.schedule = c, schedule

    def __call__(self, x, t):
        return self.c.expand_as(x).clone()


def constant_solution(schedule, c, x_T, t_start, t):
    """y = x/α obeys dy/d log κ = y − c, so x_t = α_t (c + κ_t/κ_T (x_T/α_T − c))."""
    kappa_ratio = schedule.kappa(t) / schedule.kappa(t_start)
    return schedule.alpha(t) * (c + kappa_ratio * (x_T / schedule.alpha(t_start) - c))


def gaussian_solution(schedule, mean, var, x_T, t_start, t):
    """Single Gaussian N(μ, s²I): x_t = α_t μ + √((α_t²s² + σ_t²)/(α_T²s² + σ_T²))·(x_T − α_T μ)."""
    a0, s0, a1, s1 = schedule.alpha(t_start), schedule.sigma(t_start), schedule.alpha(t), schedule.sigma(t)
    return a1 * mean + math.sqrt((a1 * a1 * var + s1 * s1) / (a0 * a0 * var + s0 * s0)) * (x_T - a0 * mean)


def _x_T(schedule, n=64, d=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return schedule.sigma(schedule.t_max) * torch.randn(n, d, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
def test_first_step_is_ddim(name, schedule):
    den = Recording(GMMDenoiser(four_mode_mixture(), schedule))
    x_T = _x_T(schedule, d=2)
    make_sampler(name).sample(den, x_T, 6)
    times = time_grid(schedule, 6, "logSNR")
    s, t = times[0], times[1]
    x0 = den.denoiser(x_T, s)
    # the κ form of DDIM, independent of the samplers' λ form
    ddim = (
        schedule.sigma(t) / schedule.sigma(s) * x_T
        + schedule.sigma(t) * (1 / schedule.kappa(t) - 1 / schedule.kappa(s)) * x0
    )
    x1, t1 = den.inputs[1]
    assert t1 == pytest.approx(t, rel=1e-14)
    torch.testing.assert_close(x1, ddim, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["ddim", "dpm-solver++2m", "unipc-bh2"])
@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
@pytest.mark.parametrize("grid", GRIDS)
def test_constant_denoiser_is_solved_exactly(name, schedule, grid):
    c = torch.randn(1, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x_T = _x_T(schedule)
    out = make_sampler(name, grid=grid).sample(Constant(c, schedule), x_T, 7)
    exact = constant_solution(schedule, c, x_T, schedule.t_max, schedule.t_min)
    torch.testing.assert_close(out, exact, rtol=1e-10, atol=1e-10)


def test_evodiff_inner_steps_are_exact_for_a_constant_denoiser_on_the_logsnr_grid():
    """Balance b = 1 and D1 = D2 = 0 there; only the heuristic last step (no call) departs from the ODE."""
    schedule = EDMSchedule()
    c = torch.randn(1, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x_T = _x_T(schedule)
    den = Recording(Constant(c, schedule))
    out = make_sampler("evodiff").sample(den, x_T, 8)
    for x, t in den.inputs:
        torch.testing.assert_close(x, constant_solution(schedule, c, x_T, schedule.t_max, t), rtol=1e-10, atol=1e-10)
    exact = constant_solution(schedule, c, x_T, schedule.t_max, schedule.t_min)
    deviation = float((out - exact).abs().max())
    assert 0 < deviation < 0.2 * float(c.abs().max())  # the last-step rule is not exact


def _gaussian_error(name, nfe, schedule, lower_order_final=False):
    mean, var = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64), 0.3
    den = GMMDenoiser(GaussianMixture(mean, [var]), schedule)
    x_T = _x_T(schedule, n=32, seed=2)
    kwargs = {"lower_order_final": lower_order_final} if name in ("dpm-solver++2m", "unipc-bh2") else {}
    out = make_sampler(name, **kwargs).sample(den, x_T, nfe)
    exact = gaussian_solution(schedule, mean, var, x_T, schedule.t_max, schedule.t_min)
    return float((out - exact).norm(dim=1).mean())


@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
def test_single_gaussian_convergence_orders(schedule):
    """Halving the step size divides DDIM's error by ≈ 2, DPM-Solver++(2M)'s by ≈ 4 and UniPC's (UniP-2 plus the
    corrector) by more; EVODiff's heuristic coefficients converge too, at a lower rate."""
    ddim = [_gaussian_error("ddim", n, schedule) for n in (40, 80, 160)]
    dpm = [_gaussian_error("dpm-solver++2m", n, schedule) for n in (40, 80, 160)]
    for a, b in itertools.pairwise(ddim):
        assert 1.8 < a / b < 2.2, ddim
    for a, b in itertools.pairwise(dpm):
        assert 3.6 < a / b < 4.4, dpm
    assert dpm[-1] < 3e-4
    unipc = [_gaussian_error("unipc-bh2", n, schedule) for n in (40, 80)]
    assert unipc[0] / unipc[1] > 5.0, unipc
    evodiff = [_gaussian_error("evodiff", n, schedule) for n in (20, 160)]
    assert evodiff[1] < evodiff[0] / 2, evodiff


@pytest.mark.parametrize("nfe", [2, 3, 5, 9, 10, 16])
def test_model_calls_equal_nfe_for_every_sampler(nfe):
    den = GMMDenoiser(four_mode_mixture(), "edm")
    x_T = _x_T(EDMSchedule(), d=2)
    calls = {}
    for name in SAMPLERS:
        sampler = make_sampler(name)
        out = sampler.sample(den, x_T, nfe)
        assert out.shape == x_T.shape and torch.isfinite(out).all()
        calls[name] = sampler.model_calls
    assert set(calls.values()) == {nfe}, calls


def test_evodiff_is_per_sample_and_its_projections_are_clamped():
    den = GMMDenoiser(four_mode_mixture(), "edm")
    x_T = _x_T(EDMSchedule(), n=40, d=2, seed=7)
    sampler = make_sampler("evodiff")
    whole = sampler.sample(den, x_T, 10)
    part = sampler.sample(den, x_T[13:29], 10)
    torch.testing.assert_close(part, whole[13:29], rtol=1e-12, atol=1e-12)
    single = sampler.sample(den, x_T.float(), 10)
    assert float((single.double() - whole).abs().max()) < 1e-3
    a, b = torch.randn(50, 4, dtype=torch.float64), torch.randn(50, 4, dtype=torch.float64) * 1e-3
    p = projection(a, b)
    assert p.shape == (50, 1) and float(p.abs().max()) <= 2.0
    assert float(projection(a, torch.zeros_like(a)).abs().max()) == 0.0


def test_bad_input_names_the_argument():
    den = GMMDenoiser(four_mode_mixture(), "edm")
    x_T = _x_T(EDMSchedule(), d=2)
    for name in SAMPLERS:
        with pytest.raises(ValueError, match="nfe must be an integer >= 2"):
            make_sampler(name).sample(den, x_T, 1)
    with pytest.raises(ValueError, match="nfe must be an integer >= 2"):
        make_sampler("ddim").sample(den, x_T, 5.0)
    with pytest.raises(ValueError, match=r"x must have shape \[n, 2\]"):
        make_sampler("evodiff").sample(den, _x_T(EDMSchedule(), d=3), 5)
    with pytest.raises(ValueError, match="grid must be one of"):
        make_sampler("ddim", grid="uniform")
    with pytest.raises(ValueError, match="sampler must be one of"):
        make_sampler("heun")
    with pytest.raises(ValueError, match="x_T contains NaN"):
        make_sampler("ddim").sample(den, x_T * float("nan"), 5)
    with pytest.raises(TypeError, match=r"x_T must be a torch\.Tensor"):
        make_sampler("ddim").sample(den, np.zeros((3, 2)), 5)
    wrong = Recording(Constant(torch.zeros(1, 1, dtype=torch.float64), EDMSchedule()))
    wrong.denoiser = lambda x, t: x[:, :1]
    with pytest.raises(ValueError, match="the denoiser returned shape"):
        make_sampler("ddim").sample(wrong, x_T, 5)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_registered_as_components(name):
    component = get_registry().get("mi.diffusion.sampler", name)
    check_component(component)
    assert isinstance(component.create(), SAMPLERS[name])


def test_evodiff_with_a_ddim_final_step_solves_a_constant_denoiser_exactly():
    schedule = EDMSchedule()
    c = torch.randn(1, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    x_T = _x_T(schedule)
    out = make_sampler("evodiff", final_step="ddim").sample(Constant(c, schedule), x_T, 8)
    exact = constant_solution(schedule, c, x_T, schedule.t_max, schedule.t_min)
    torch.testing.assert_close(out, exact, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="final_step must be"):
        make_sampler("evodiff", final_step="heun")
