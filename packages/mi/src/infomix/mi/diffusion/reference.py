"""The reference probability-flow ODE solution: scipy DOP853 (order 8) at tight tolerance, in u = log κ."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import solve_ivp

from infomix.mi.diffusion.denoisers import CountingDenoiser, Denoiser, check_state


def reference_solve(
    denoiser: Denoiser,
    x_T: torch.Tensor,
    t_start: float | None = None,
    t_end: float | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    method: str = "DOP853",
) -> tuple[torch.Tensor, int]:
    """Solve the PF-ODE from x_T at t_start (default t_max) to t_end (default t_min); return (x, denoiser calls).

    With y = x/α and κ = σ/α the ODE of any schedule is dy/du = y − x̂0(α y, t(κ)) with u = log κ, which is
    smooth and non-stiff in u. All samples are integrated as one system in float64, so the step control
    follows the hardest sample.
    """
    x = check_state(x_T)
    model = CountingDenoiser(denoiser)
    schedule = model.schedule
    t_start = schedule.check_time(schedule.t_max if t_start is None else t_start, "t_start")
    t_end = schedule.check_time(schedule.t_min if t_end is None else t_end, "t_end")
    shape, dtype = x.shape, x.dtype

    def rhs(u: float, y: np.ndarray) -> np.ndarray:
        t = schedule.time_from_kappa(math.exp(u))
        alpha = schedule.alpha(t)
        y_t = torch.from_numpy(y).reshape(shape)
        with torch.no_grad():
            x0 = model(alpha * y_t, t).to(torch.float64)
        return (y_t - x0).reshape(-1).numpy()

    y0 = (x.detach().to(torch.float64) / schedule.alpha(t_start)).reshape(-1).numpy()
    u0, u1 = math.log(schedule.kappa(t_start)), math.log(schedule.kappa(t_end))
    sol = solve_ivp(rhs, (u0, u1), y0, method=method, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"the reference ODE solve failed: {sol.message}")
    y_end = torch.from_numpy(sol.y[:, -1].copy()).reshape(shape)
    return (schedule.alpha(t_end) * y_end).to(dtype), model.calls
