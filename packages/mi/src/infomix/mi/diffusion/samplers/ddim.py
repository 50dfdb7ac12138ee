"""DDIM (= DPM-Solver++ of order 1): the exponential-integrator Euler step in data prediction."""

from __future__ import annotations

import torch

from infomix.mi.diffusion.denoisers import CountingDenoiser
from infomix.mi.diffusion.samplers.base import Grid, Sampler


class DDIMSampler(Sampler):
    """Song et al. (2021): x_i = (σ_i/σ_{i−1}) x_{i−1} + α_i(1 − e^{−h_i}) x̂0(x_{i−1}, t_{i−1}); first order."""

    name = "ddim"

    def _run(self, model: CountingDenoiser, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        x0 = model(x, grid.t(0))
        for i in range(1, grid.steps + 1):
            x = grid.ddim(x, x0, i)
            if i < grid.steps:
                x0 = model(x, grid.t(i))
        return x
