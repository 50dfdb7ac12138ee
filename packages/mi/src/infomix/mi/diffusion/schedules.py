"""Noise schedules x_t = α_t·x_0 + σ_t·ε: variance-preserving (linear β) and EDM (α = 1, σ = t)."""

from __future__ import annotations

import math
from typing import Any


class NoiseSchedule:
    """α_t, σ_t, κ_t = σ_t/α_t and the half log-SNR λ_t = log(α_t/σ_t) = −log κ_t of a time t.

    Subclasses define `alpha`, `sigma` and `time_from_log_snr`; t runs from `t_max` (noise) down to `t_min`.
    """

    name = "schedule"
    t_min: float
    t_max: float

    def alpha(self, t: float) -> float:
        raise NotImplementedError

    def sigma(self, t: float) -> float:
        raise NotImplementedError

    def kappa(self, t: float) -> float:
        return self.sigma(t) / self.alpha(t)

    def log_snr(self, t: float) -> float:
        return -math.log(self.kappa(t))

    def time_from_log_snr(self, lam: float) -> float:
        raise NotImplementedError

    def time_from_kappa(self, kappa: float) -> float:
        return self.time_from_log_snr(-math.log(kappa))

    def check_time(self, t: float, name: str = "t") -> float:
        t = float(t)
        if not (math.isfinite(t) and self.t_min * (1 - 1e-9) <= t <= self.t_max * (1 + 1e-9)):
            raise ValueError(f"{name} must be in [{self.t_min}, {self.t_max}] for the {self.name} schedule, got {t}")
        return t

    def __repr__(self) -> str:
        return f"{type(self).__name__}(t_min={self.t_min}, t_max={self.t_max})"


class EDMSchedule(NoiseSchedule):
    """Karras et al. (2022): α_t = 1, σ_t = t, t ∈ [sigma_min, sigma_max] (default [0.002, 80])."""

    name = "edm"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
        self.t_min, self.t_max = float(sigma_min), float(sigma_max)

    def alpha(self, t: float) -> float:
        return 1.0

    def sigma(self, t: float) -> float:
        return float(t)

    def time_from_log_snr(self, lam: float) -> float:
        return math.exp(-lam)


class VPSchedule(NoiseSchedule):
    """Variance preserving with linear β(t) = β_min + t(β_max − β_min) (Song et al. 2021), t ∈ [t_min, 1].

    log α_t = −¼t²(β_max − β_min) − ½t·β_min, σ_t = √(1 − α_t²).
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3, t_max: float = 1.0) -> None:
        if not 0 < beta_min < beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got beta_min={beta_min}, beta_max={beta_max}")
        if not 0 < t_min < t_max <= 1:
            raise ValueError(f"need 0 < t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        self.t_min, self.t_max = float(t_min), float(t_max)

    def log_alpha(self, t: float) -> float:
        return -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t: float) -> float:
        return math.exp(self.log_alpha(t))

    def sigma(self, t: float) -> float:
        return math.sqrt(-math.expm1(2.0 * self.log_alpha(t)))

    def log_snr(self, t: float) -> float:
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * math.log(-math.expm1(2.0 * log_alpha))

    def time_from_log_snr(self, lam: float) -> float:
        # α² = 1/(1 + e^{−2λ}); solve ¼Δβ·t² + ½β_min·t + log α = 0 for t > 0.
        log_alpha = -0.5 * math.log1p(math.exp(-2.0 * lam)) if lam > -20 else lam
        a, b = 0.25 * (self.beta_max - self.beta_min), 0.5 * self.beta_min
        return 2.0 * (-log_alpha) / (b + math.sqrt(b * b - 4.0 * a * log_alpha))


SCHEDULES: dict[str, type[NoiseSchedule]] = {"edm": EDMSchedule, "vp": VPSchedule}


def make_schedule(schedule: str | NoiseSchedule = "edm", **params: Any) -> NoiseSchedule:
    """A schedule by name ('edm' or 'vp', with its parameters), or the given schedule object unchanged."""
    if isinstance(schedule, NoiseSchedule):
        return schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    return SCHEDULES[schedule](**params)
