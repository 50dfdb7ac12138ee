"""A fast batched t-copula fit of normal scores: the t-copula MI and 1/dof that the network's head can read."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy.special import gammaln, ndtr, stdtrit
from torch import Tensor

from infomix.mi.tasks import gaussian_mi, student_entropy_term

# the profile grid of the dof (log-spaced, 0.5 to 256: the meta-prior draws dof from [0.5, 10]); the refit
# interpolates the log-likelihood parabolically in log dof around the best grid point
DOF_GRID = tuple(float(v) for v in np.exp(np.linspace(math.log(0.5), math.log(256.0), 12)))
EM_STEPS = 3  # EM steps of the correlation at the best grid dof, from the normal scores' correlation
SCORE_GRID = np.linspace(-6.0, 6.0, 8193)  # normal scores of ranks stay within ±4.9 up to n = 10⁶
RIDGE = 1e-6  # as in the Gaussian-copula input (`features.gaussian_mi_of_scores`)
STATISTICS = 2  # columns of t_copula_statistics: I_t − I_copula and 1/dof


def _correlation(scatter: np.ndarray) -> np.ndarray:
    """The correlation of a scatter matrix, shrunk by RIDGE towards I (identical ranks in two columns give ρ = 1)."""
    scale = np.sqrt(np.diagonal(scatter, axis1=-2, axis2=-1))
    corr = scatter / (scale[..., :, None] * scale[..., None, :])
    return (corr + RIDGE * np.eye(corr.shape[-1])) / (1.0 + RIDGE)


@functools.lru_cache(maxsize=1)
def _quantile_table() -> np.ndarray:
    """[len(DOF_GRID), len(SCORE_GRID)]: asinh(t_ν⁻¹(Φ(z))) on the grid of normal scores z, for every grid ν.

    asinh keeps the heavy tails of small ν smooth in z (≈ z²/(2ν) far out), so linear interpolation is accurate
    to ~1e-6 relative, and one table serves every n, where exact quantiles cost one stdtrit call per rank level.
    """
    u = ndtr(SCORE_GRID)
    return np.arcsinh(np.stack([stdtrit(dof, u) for dof in DOF_GRID]))


def t_scores(z: np.ndarray) -> np.ndarray:
    """[len(DOF_GRID), *z.shape]: t_ν⁻¹(Φ(z)) for every grid ν (normal scores z, |z| ≤ 6), by table lookup."""
    if np.abs(z).max(initial=0.0) > SCORE_GRID[-1]:
        raise ValueError(f"normal scores must lie within ±{SCORE_GRID[-1]}, got |z| up to {np.abs(z).max()}")
    step = SCORE_GRID[1] - SCORE_GRID[0]
    position = (z - SCORE_GRID[0]) / step
    left = np.minimum(position.astype(np.intp), SCORE_GRID.size - 2)
    frac = position - left  # linear interpolation on the uniform grid: an index, not a search
    table = _quantile_table()
    return np.sinh(table[:, left] * (1.0 - frac) + table[:, left + 1] * frac)


def _margins(q: np.ndarray) -> np.ndarray:
    """[G]: Σ over entries of log f_{1,ν}(q) for every grid ν (the copula's denominator; R plays no part)."""
    _, _, n, d = q.shape
    dof = np.asarray(DOF_GRID)
    density = gammaln((dof + 1) / 2) - gammaln(dof / 2) - np.log(dof * math.pi) / 2
    return n * d * density[:, None] - (dof[:, None] + 1) / 2 * np.log1p(q * q / dof[:, None, None, None]).sum(
        axis=(2, 3)
    )


def _profile(q: np.ndarray, margins: np.ndarray, z: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """[B, len(DOF_GRID) + 1] copula log-likelihoods at `corr` [B, d, d]: every grid dof, then the Gaussian copula.

    log c(u) = log f_{d,ν,R}(q) − Σ_j log f_{1,ν}(q_j), q = t_ν⁻¹(u) (`t_scores`: q [G, B, n, d]; `margins`: the
    second sum, [G, B]); Gaussian: −½ log det R − ½ zᵀ(R⁻¹ − I)z.
    """
    _, n, d = z.shape
    inverse, logdet = np.linalg.inv(corr), np.linalg.slogdet(corr)[1]
    dof = np.asarray(DOF_GRID)[:, None]
    mahalanobis = ((q @ inverse) * q).sum(axis=3)  # [G, B, n]
    joint = gammaln((dof + d) / 2) - gammaln(dof / 2) - d / 2 * np.log(dof * math.pi) - logdet / 2
    t = n * joint - (dof + d) / 2 * np.log1p(mahalanobis / dof[:, :, None]).sum(axis=2) - margins
    gaussian = -n * logdet / 2 - (((z @ (inverse - np.eye(d))) * z).sum(axis=(1, 2))) / 2
    return np.concatenate([t.T, gaussian[:, None]], axis=1)


def _refined_dof(loglik: np.ndarray) -> np.ndarray:
    """Per item: the dof at the vertex of the parabola in log dof through the best grid point and its neighbours.

    math.inf where the Gaussian copula beats every grid dof; at a grid end, that end.
    """
    logs = np.log(DOF_GRID)
    best = np.argmax(loglik[:, :-1], axis=1)
    out = np.empty(loglik.shape[0])
    for b, i in enumerate(best):
        out[b] = logs[i]
        if 0 < i < len(logs) - 1:
            f0, f1, f2 = loglik[b, i - 1 : i + 2]
            curvature = f0 - 2 * f1 + f2
            if curvature < 0:
                step = logs[i + 1] - logs[i]
                out[b] = logs[i] + step * 0.5 * (f0 - f2) / curvature
    dof = np.exp(out)
    dof[loglik[:, -1] >= loglik[:, :-1].max(axis=1)] = math.inf
    return dof


def t_copula_statistics(zx: Tensor, zy: Tensor) -> Tensor:
    """[B, 2]: I_t − I_copula and 1/ν of a t copula fitted to each sample's normal scores (z_x [B, n, d_x], z_y).

    A quick version of `infomix.mi.tcopula` for every batch item at once: the correlation R₀ of the normal scores,
    the dof maximising the pseudo-likelihood at R₀ on a 12-point grid, three EM steps of the correlation at that
    dof, the dof again at the refined R (parabolic in log ν), and the closed-form t-copula MI minus the Gaussian MI
    of R₀ (the copula input the head already has). 1/ν is 0 where the Gaussian copula fits best. The t quantiles
    run once per distinct rank level of the batch, not per entry.
    """
    if zx.dim() != 3 or zy.dim() != 3 or zx.shape[:2] != zy.shape[:2]:
        raise ValueError(
            f"zx [B, n, d_x] and zy [B, n, d_y] must agree in B and n, got {tuple(zx.shape)}, {tuple(zy.shape)}"
        )
    dx = zx.shape[2]
    z = torch.cat([zx, zy], dim=2).double().numpy()
    b, n, d = z.shape
    q = t_scores(z)
    start = _correlation(np.swapaxes(z, 1, 2) @ z / n)
    margins = _margins(q)
    first = _profile(q, margins, z, start)
    grid_best = np.argmax(first[:, :-1], axis=1)
    corr = start.copy()
    for item in range(b):
        if first[item, -1] >= first[item, grid_best[item]]:
            continue  # Gaussian: the normal scores' correlation is its fit
        dof, scores = DOF_GRID[grid_best[item]], q[grid_best[item], item]
        r = corr[item]
        for _ in range(EM_STEPS):
            weights = (dof + d) / (dof + ((scores @ np.linalg.inv(r)) * scores).sum(axis=1))
            r = _correlation((scores * weights[:, None]).T @ scores / n)
        corr[item] = r
    dofs = _refined_dof(_profile(q, margins, z, corr))
    dofs = _refined_dof(_profile(q, margins, z, corr))
    out = np.zeros((b, STATISTICS))
    for item in range(b):
        gaussian = gaussian_mi(corr[item], dx)
        tail = 0.0
        if math.isfinite(dofs[item]):
            h = lambda k, nu=dofs[item]: student_entropy_term(k, nu)  # noqa: E731
            tail = h(dx) + h(d - dx) - h(d)
            out[item, 1] = 1.0 / dofs[item]
        out[item, 0] = max(0.0, gaussian + tail) - gaussian_mi(start[item], dx)
    return torch.from_numpy(out).to(zx.dtype)
