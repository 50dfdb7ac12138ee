"""Noise schedules: α² + σ² = 1 for VP, λ ↔ t round trips, EDM identities, named construction and bad input."""

import math

import numpy as np
import pytest

from infomix.mi.diffusion import EDMSchedule, VPSchedule, make_schedule


@pytest.mark.parametrize("schedule", [VPSchedule(), VPSchedule(beta_min=0.5, beta_max=12.0), EDMSchedule()])
def test_log_snr_round_trip(schedule):
    rng = np.random.default_rng(0)
    for t in rng.uniform(schedule.t_min, schedule.t_max, size=20):
        lam = schedule.log_snr(t)
        assert lam == pytest.approx(math.log(schedule.alpha(t) / schedule.sigma(t)), rel=1e-12, abs=1e-12)
        assert schedule.time_from_log_snr(lam) == pytest.approx(t, rel=1e-10)
        assert schedule.time_from_kappa(schedule.kappa(t)) == pytest.approx(t, rel=1e-10)


def test_vp_is_variance_preserving_and_matches_the_integral_of_beta():
    s = VPSchedule()
    for t in np.random.default_rng(1).uniform(1e-3, 1, size=10):
        assert s.alpha(t) ** 2 + s.sigma(t) ** 2 == pytest.approx(1.0, abs=1e-14)
        integral = s.beta_min * t + 0.5 * (s.beta_max - s.beta_min) * t * t  # ∫_0^t β
        assert math.log(s.alpha(t)) == pytest.approx(-0.5 * integral, rel=1e-12)


def test_edm_is_sigma_equals_t():
    s = EDMSchedule()
    assert (s.alpha(3.0), s.sigma(3.0), s.kappa(3.0)) == (1.0, 3.0, 3.0)
    assert (s.t_min, s.t_max) == (0.002, 80.0)


def test_named_schedules_and_errors():
    assert isinstance(make_schedule("vp"), VPSchedule)
    assert isinstance(make_schedule("edm", sigma_max=10.0), EDMSchedule)
    with pytest.raises(ValueError, match=r"schedule must be one of edm, vp, got 'cosine'"):
        make_schedule("cosine")
    with pytest.raises(ValueError, match="sigma_min"):
        EDMSchedule(sigma_min=0.0)
    with pytest.raises(ValueError, match="t_start must be in"):
        EDMSchedule().check_time(100.0, "t_start")
