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
STATISTICS = 2  # t-copula columns of copula_and_t_statistics (after I_copula): I_t − I_copula and 1/dof


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


def _margins(level_scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[G, B]: Σ over each item's entries of log f_{1,ν}(q) for every grid ν (the copula's denominator; R plays
    no part), from the t scores of the distinct levels [G, m] and each item's count of every level [B, m]."""
    dof = np.asarray(DOF_GRID)[:, None]
    density = gammaln((dof + 1) / 2) - gammaln(dof / 2) - np.log(dof * math.pi) / 2
    return (density - (dof + 1) / 2 * np.log1p(level_scores * level_scores / dof)) @ counts.T


def _profile(q: np.ndarray, margins: np.ndarray, z: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """[B, len(DOF_GRID) + 1] copula log-likelihoods at `corr` [B, d, d]: every grid dof, then the Gaussian copula.

    log c(u) = log f_{d,ν,R}(q) − Σ_j log f_{1,ν}(q_j), q = t_ν⁻¹(u) (`t_scores`, laid out [B, G·n, d] so that each
    item's Mahalanobis distances are one matrix product; `margins`: the second sum, [G, B]); Gaussian:
    −½ log det R − ½ zᵀ(R⁻¹ − I)z.
    """
    b, n, d = z.shape
    inverse, logdet = np.linalg.inv(corr), np.linalg.slogdet(corr)[1]
    dof = np.asarray(DOF_GRID)[:, None]
    mahalanobis = np.einsum("bnd,bnd->bn", q @ inverse, q).reshape(b, len(DOF_GRID), n).transpose(1, 0, 2)  # [G, B, n]
    joint = gammaln((dof + d) / 2) - gammaln(dof / 2) - d / 2 * np.log(dof * math.pi) - logdet / 2
    t = n * joint - (dof + d) / 2 * np.log1p(mahalanobis / dof[:, :, None]).sum(axis=2) - margins
    gaussian = -n * logdet / 2 - np.einsum("bnd,bnd->b", z @ (inverse - np.eye(d)), z) / 2
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


def _rank_levels(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of z [B, n, d] and each entry's index into them, [B, n·d].

    Normal scores of ranks sit at Φ⁻¹(r/(n + 1)) with 2r an integer (ties share an average rank), so 2r indexes
    them without a sort; values that are not such scores fall back to np.unique.
    """
    b, n, d = z.shape
    flat = z.reshape(b, n * d)
    index = np.rint(ndtr(flat) * (2 * (n + 1))).astype(np.intp)
    if index.min() >= 0 and index.max() <= 2 * (n + 1):
        levels = np.zeros(2 * n + 3)
        levels[index] = flat
        if np.array_equal(levels[index], flat):
            return levels, index
    levels, index = np.unique(z, return_inverse=True)
    return levels, index.reshape(b, n * d)


def copula_and_t_statistics(zx: Tensor, zy: Tensor) -> Tensor:
    """[B, 3]: I_copula, I_t − I_copula and 1/ν of each sample's normal scores (z_x [B, n, d_x], z_y [B, n, d_y]).

    I_copula is the Gaussian MI of the normal scores' correlation R₀ (`features.gaussian_mi_of_scores` up to
    ~1e-7). The rest is a quick version of `infomix.mi.tcopula` for every batch item at once: the dof maximising
    the pseudo-likelihood at R₀ on a 12-point grid, three EM steps of the correlation at that dof, the dof again
    at the refined R (parabolic in log ν), and the closed-form t-copula MI. 1/ν is 0 where the Gaussian copula
    fits best. The t quantiles come from one table for every n (`t_scores`), once per distinct rank level.
    """
    if zx.dim() != 3 or zy.dim() != 3 or zx.shape[:2] != zy.shape[:2]:
        raise ValueError(
            f"zx [B, n, d_x] and zy [B, n, d_y] must agree in B and n, got {tuple(zx.shape)}, {tuple(zy.shape)}"
        )
    dx = zx.shape[2]
    z = torch.cat([zx, zy], dim=2).double().numpy()
    b, n, d = z.shape
    levels, index = _rank_levels(z)
    level_scores = t_scores(levels)
    q = level_scores.T[index].transpose(0, 2, 1).reshape(b, len(DOF_GRID) * n, d)  # [B, G·n, d]
    counts = np.bincount((index + levels.size * np.arange(b)[:, None]).ravel(), minlength=b * levels.size)
    margins = _margins(level_scores, counts.reshape(b, levels.size).astype(float))
    start = _correlation(np.swapaxes(z, 1, 2) @ z / n)
    first = _profile(q, margins, z, start)
    grid_best = np.argmax(first[:, :-1], axis=1)
    corr = start.copy()
    for item in range(b):
        if first[item, -1] >= first[item, grid_best[item]]:
            continue  # Gaussian: the normal scores' correlation is its fit
        g = grid_best[item]
        dof, scores = DOF_GRID[g], q[item, g * n : (g + 1) * n]
        r = corr[item]
        for _ in range(EM_STEPS):
            weights = (dof + d) / (dof + np.einsum("nd,nd->n", scores @ np.linalg.inv(r), scores))
            r = _correlation((scores * weights[:, None]).T @ scores / n)
        corr[item] = r
    dofs = _refined_dof(_profile(q, margins, z, corr))
    out = np.zeros((b, 1 + STATISTICS))
    for item in range(b):
        gaussian = gaussian_mi(corr[item], dx)
        tail = 0.0
        if math.isfinite(dofs[item]):
            h = lambda k, nu=dofs[item]: student_entropy_term(k, nu)  # noqa: E731
            tail = h(dx) + h(d - dx) - h(d)
            out[item, 2] = 1.0 / dofs[item]
        out[item, 0] = gaussian_mi(start[item], dx)
        out[item, 1] = max(0.0, gaussian + tail) - out[item, 0]
    return torch.from_numpy(out).to(zx.dtype)
