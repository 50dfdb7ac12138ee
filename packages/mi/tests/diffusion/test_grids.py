"""Time grids: endpoints, monotonicity, the defining spacing of each kind, and bad input."""

import numpy as np
import pytest

from infomix.mi.diffusion import GRIDS, EDMSchedule, VPSchedule, time_grid


@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
@pytest.mark.parametrize("grid", GRIDS)
def test_endpoints_and_monotone(schedule, grid):
    times = time_grid(schedule, 7, grid)
    assert times.shape == (8,)
    assert times[0] == schedule.t_max and times[-1] == schedule.t_min
    assert np.all(np.diff(times) < 0)


@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
def test_defining_spacings(schedule):
    lam = np.array([schedule.log_snr(t) for t in time_grid(schedule, 9, "logSNR")])
    np.testing.assert_allclose(np.diff(lam), np.full(9, (lam[-1] - lam[0]) / 9), rtol=1e-9)
    np.testing.assert_allclose(np.diff(time_grid(schedule, 9, "time_uniform")), (schedule.t_min - schedule.t_max) / 9)
    roots = np.sqrt(time_grid(schedule, 9, "time_quadratic"))
    np.testing.assert_allclose(np.diff(roots), np.full(9, (roots[-1] - roots[0]) / 9), rtol=1e-9)


def test_edm_grid_is_karras_rho_7_for_the_edm_schedule():
    n, lo, hi = 6, 0.002, 80.0
    expected = [(hi ** (1 / 7) + i / n * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7 for i in range(n + 1)]
    np.testing.assert_allclose(time_grid(EDMSchedule(), n, "edm"), expected, rtol=1e-12)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        time_grid(EDMSchedule(), 1)
    with pytest.raises(ValueError, match="grid must be one of"):
        time_grid(EDMSchedule(), 5, "karras")
    with pytest.raises(ValueError, match="t_end must be below t_start"):
        time_grid(EDMSchedule(), 5, t_start=1.0, t_end=2.0)
