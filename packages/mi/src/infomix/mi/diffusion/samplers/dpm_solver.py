"""DPM-Solver++(2M): the second-order multistep exponential integrator in data prediction (Lu et al. 2022)."""

from __future__ import annotations

import math

import torch

from infomix.mi.diffusion.denoisers import CountingDenoiser
from infomix.mi.diffusion.samplers.base import Grid, MultistepSampler


class DPMSolverPP2MSampler(MultistepSampler):
    """x_i = (σ_i/σ_{i−1}) x − α_i(e^{−h_i} − 1)·[(1 + 1/(2r)) m_0 − 1/(2r) m_1], r = h_{i−1}/h_i.

    m_0, m_1 are x̂0 at the last two times. The first step is DDIM; with `lower_order_final` (default, as in
    the authors' code) the last step is DDIM too when nfe < 10, which steadies very short runs.
    """

    name = "dpm-solver++2m"

    def _run(self, model: CountingDenoiser, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        n = grid.steps
        m1, m0 = None, model(x, grid.t(0))
        for i in range(1, n + 1):
            if not self.second_order(m1 is not None, i, n):
                x = grid.ddim(x, m0, i)
            else:
                r = grid.h(i - 1) / grid.h(i)
                d = (1 + 0.5 / r) * m0 - (0.5 / r) * m1
                x = (grid.sigma[i] / grid.sigma[i - 1]) * x - (grid.alpha[i] * math.expm1(-grid.h(i))) * d
            if i < n:
                m1, m0 = m0, model(x, grid.t(i))
        return x
