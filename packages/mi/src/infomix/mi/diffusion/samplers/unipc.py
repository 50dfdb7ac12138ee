"""UniPC with B(h) = e^h − 1 ("bh2"), order 2, data prediction: predictor UniP-2, corrector UniC (Zhao et al. 2023)."""

from __future__ import annotations

import math

import torch

from infomix.mi.diffusion.denoisers import CountingDenoiser
from infomix.mi.diffusion.samplers.base import Grid, MultistepSampler


def unipc_coefficients(h: float, r1: float | None) -> tuple[float, list[float]]:
    """B(h) and the corrector weights for data prediction with step h.

    With ĥ = −h, φ̂_1 = e^{ĥ} − 1 and the recursion φ̂_{k+1} = φ̂_k/ĥ − 1/(k+1)! started at φ̂_1/ĥ − 1, the
    right-hand side is b_k = k!·φ̂_{k+1}/B(h); the weights solve [r^0; r^1]·a = b over the nodes (r1, 1) for a
    second-order corrector, or are [½] with no earlier output (r1 None).
    """
    hh = -h
    b_h = math.expm1(hh)
    if r1 is None:
        return b_h, [0.5]
    phi = math.expm1(hh) / hh - 1.0
    b1 = phi / b_h
    phi = phi / hh - 0.5
    b2 = 2.0 * phi / b_h
    # [[1, 1], [r1, 1]] @ (a0, a1) = (b1, b2)
    a0 = (b1 - b2) / (1.0 - r1)
    return b_h, [a0, b1 - a0]


class UniPCSampler(MultistepSampler):
    """UniPC-bh2, order 2, with the corrector applied after every step but the last (one call per step).

    Each step predicts x_i from x̂0 at the last two times (UniP-2: weight ½ on the scaled difference D1), calls
    the model once at the predicted point and corrects with that output (UniC); the output is reused as the
    next step's x̂0. The first step is DDIM + corrector; with `lower_order_final` the last step is DDIM when
    nfe < 10 (the convention used for DPM-Solver++ here).
    """

    name = "unipc-bh2"

    def _run(self, model: CountingDenoiser, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        n = grid.steps
        m1, m0 = None, model(x, grid.t(0))
        for i in range(1, n + 1):
            h = grid.h(i)
            second = self.second_order(m1 is not None, i, n)
            r1 = (grid.lam[i - 2] - grid.lam[i - 1]) / h if second else None
            b_h, rhos = unipc_coefficients(h, r1)
            base = grid.ddim(x, m0, i)
            if second:
                d1 = (m1 - m0) / r1
                x_pred = base - (grid.alpha[i] * b_h * 0.5) * d1
            else:
                x_pred = base
            if i == n:
                return x_pred
            m_t = model(x_pred, grid.t(i))
            correction = rhos[-1] * (m_t - m0)
            if second:
                correction = correction + rhos[0] * d1
            x = base - (grid.alpha[i] * b_h) * correction
            m1, m0 = m0, m_t
        return x
