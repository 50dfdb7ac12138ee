"""Time grids t_0 = t_max > … > t_N = t_min: uniform in log-SNR, uniform or quadratic in t, and EDM's ρ = 7."""

from __future__ import annotations

import math

import numpy as np

from infomix.mi.diffusion.schedules import NoiseSchedule

GRIDS = ("logSNR", "time_uniform", "time_quadratic", "edm")


def check_nfe(nfe: object, name: str = "nfe") -> int:
    """`nfe` as an int >= 2, or a ValueError naming it."""
    if isinstance(nfe, bool) or not isinstance(nfe, (int, np.integer)) or nfe < 2:
        raise ValueError(f"{name} must be an integer >= 2 (one denoiser call per step), got {nfe!r}")
    return int(nfe)


def time_grid(
    schedule: NoiseSchedule,
    steps: int,
    grid: str = "logSNR",
    t_start: float | None = None,
    t_end: float | None = None,
    rho: float = 7.0,
) -> np.ndarray:
    """`steps` + 1 decreasing times (float64) from t_start (default t_max) to t_end (default t_min).

    logSNR: λ = log(α/σ) uniform. time_uniform / time_quadratic: t (or √t) uniform. edm: κ = σ/α on Karras
    et al.'s ρ-grid (κ_max^{1/ρ} + i/N·(κ_min^{1/ρ} − κ_max^{1/ρ}))^ρ, which for the EDM schedule is their σ grid.
    """
    steps = check_nfe(steps, "steps")
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {grid!r}")
    t_start = schedule.check_time(schedule.t_max if t_start is None else t_start, "t_start")
    t_end = schedule.check_time(schedule.t_min if t_end is None else t_end, "t_end")
    if not t_end < t_start:
        raise ValueError(f"t_end must be below t_start, got t_end={t_end}, t_start={t_start}")
    ramp = np.linspace(0.0, 1.0, steps + 1)
    if grid == "time_uniform":
        times = t_start + ramp * (t_end - t_start)
    elif grid == "time_quadratic":
        times = (math.sqrt(t_start) + ramp * (math.sqrt(t_end) - math.sqrt(t_start))) ** 2
    elif grid == "logSNR":
        lam = schedule.log_snr(t_start) + ramp * (schedule.log_snr(t_end) - schedule.log_snr(t_start))
        times = np.array([schedule.time_from_log_snr(v) for v in lam])
    else:
        if rho <= 0:
            raise ValueError(f"rho must be > 0, got {rho}")
        k_max, k_min = schedule.kappa(t_start) ** (1 / rho), schedule.kappa(t_end) ** (1 / rho)
        times = np.array([schedule.time_from_kappa(k) for k in (k_max + ramp * (k_min - k_max)) ** rho])
    times[0], times[-1] = t_start, t_end
    return times
