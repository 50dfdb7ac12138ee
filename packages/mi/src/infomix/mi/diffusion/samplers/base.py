"""What every sampler shares: input checks, the time grid, per-time coefficients and the model-call count."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from infomix.mi.diffusion.denoisers import CountingDenoiser, Denoiser, check_state
from infomix.mi.diffusion.grids import GRIDS, check_nfe, time_grid
from infomix.mi.diffusion.schedules import NoiseSchedule


@dataclass(frozen=True)
class Grid:
    """Times t_0 > … > t_N and, at each, α, σ, κ = σ/α and λ = −log κ (Python floats, float64)."""

    times: np.ndarray
    alpha: list[float]
    sigma: list[float]
    kappa: list[float]
    lam: list[float]

    @classmethod
    def build(cls, schedule: NoiseSchedule, times: np.ndarray) -> Grid:
        alpha = [schedule.alpha(float(t)) for t in times]
        sigma = [schedule.sigma(float(t)) for t in times]
        lam = [schedule.log_snr(float(t)) for t in times]
        return cls(times, alpha, sigma, [math.exp(-v) for v in lam], lam)

    @property
    def steps(self) -> int:
        return len(self.times) - 1

    def t(self, i: int) -> float:
        return float(self.times[i])

    def h(self, i: int) -> float:
        """The log-SNR step λ_i − λ_{i−1} (> 0)."""
        return self.lam[i] - self.lam[i - 1]

    def ddim(self, x: torch.Tensor, x0: torch.Tensor, i: int) -> torch.Tensor:
        """First-order data-prediction step t_{i−1} → t_i: (σ_i/σ_{i−1}) x + α_i (1 − e^{−h}) x̂0."""
        return (self.sigma[i] / self.sigma[i - 1]) * x - (self.alpha[i] * math.expm1(-self.h(i))) * x0


class Sampler:
    """Base of the probability-flow ODE samplers: `sample(denoiser, x_T, nfe)` takes `nfe` steps on the grid
    named by `grid` (logSNR, time_uniform, time_quadratic, edm) with exactly `nfe` denoiser calls, and leaves the
    count in `model_calls`. Subclasses implement `_run(model, x, grid)`.
    """

    name = "sampler"

    def __init__(self, grid: str = "logSNR") -> None:
        if grid not in GRIDS:
            raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {grid!r}")
        self.grid = grid
        self.model_calls = 0

    def sample(
        self,
        denoiser: Denoiser,
        x_T: torch.Tensor,
        nfe: int,
        t_start: float | None = None,
        t_end: float | None = None,
    ) -> torch.Tensor:
        """Integrate from t_start (default t_max) down to t_end (default t_min) with `nfe` denoiser calls."""
        nfe = check_nfe(nfe)
        x = check_state(x_T)
        model = CountingDenoiser(denoiser)
        grid = Grid.build(model.schedule, time_grid(model.schedule, nfe, self.grid, t_start, t_end))
        with torch.no_grad():
            out = self._run(model, x, grid)
        self.model_calls = model.calls
        if model.calls != nfe:
            raise RuntimeError(f"{self.name} made {model.calls} denoiser calls for nfe={nfe}")
        return out

    def _run(self, model: CountingDenoiser, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(grid={self.grid!r})"


class MultistepSampler(Sampler):
    """A second-order multistep sampler whose first step is first order, and whose last step is too when
    `lower_order_final` is set and nfe < 10.
    """

    def __init__(self, grid: str = "logSNR", lower_order_final: bool = True) -> None:
        super().__init__(grid)
        self.lower_order_final = lower_order_final

    def second_order(self, has_previous: bool, i: int, n: int) -> bool:
        """Whether step i of n uses the second-order update (needs an earlier x̂0 in `has_previous`)."""
        return has_previous and not (self.lower_order_final and n < 10 and i == n)
