"""Split-conformal widening of the learned 90% interval, fitted on held-out draws of the meta-distribution."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from infomix.mi.learned.metadata import MetaDataConfig, draw_batch
from infomix.mi.learned.model import QuantileMINetwork, predict_quantiles
from infomix.mi.learned.training import batch_tensors

CALIBRATION_SEED_OFFSET = 2_000_003
# sample sizes at which the scale is fitted (each on its own draws, n exactly this), interpolated linearly in
# log n between them: the network's errors shrink with n faster than its quantiles do, so one pooled scale
# under-covers n ~ 100 and over-covers n ~ 5000, and a step function of n bins under-covers at each bin's lower
# edge (v3 with six bins: 82% in-family coverage at n = 1000, the lower edge of its bin, against 90% at n = 500)
N_GRID = (100, 200, 500, 1000, 2000, 5000)
# a family's (or cell's) own scale needs at least this many draws at a grid point: the 90% conformal quantile
# of k draws covers a new one with an SD of about √(0.09/k), 0.07 at k = 20, 0.03 at k = 100 (at 20, v7's n = 100
# cell of heavy-tailed fits with 0.5-1.5 nats took 1.42 from 68 normal-dense draws whose fit read heavy-tailed)
MIN_FAMILY_DRAWS = 100
# Mondrian cells by what the estimator observes of a sample: bin edges of the quick t-copula fit's 1/dof (the
# head's third input) and of the raw median (each bin closed below). A sample is widened by the families' scales
# among the draws of its own cell. One scale for all draws of an n (the family maximum, 1.28) over-covered the easy
# ones: at n = 5000 v7's cells take 0.79 (Gaussian-like fit, median < 0.5 nats) to 1.70 (heavy-tailed, 0.5-1.5)
CELL_EDGES: dict[str, tuple[float, ...]] = {"inv_dof": (0.05,), "median": (0.5, 1.5)}
OBSERVABLES = ("inv_dof", "median")  # what the estimator hands `scale_for` of each sample


@dataclass
class CalibrationDraws:
    """The sign-averaged quantiles of fresh meta-training draws at one n, with what calibration groups them by."""

    n: int
    quantiles: np.ndarray  # [k, levels]
    truth: np.ndarray  # [k]
    family: np.ndarray  # [k] family names
    inv_dof: np.ndarray | None  # [k] the quick t fit's 1/dof (None when the network does not read it)


def conformal_scale(
    median: np.ndarray, lower: np.ndarray, upper: np.ndarray, truth: np.ndarray, confidence: float
) -> float:
    """The factor s making [m − s(m − lo), m + s(hi − m)] cover `confidence` of calibration points (split-CQR).

    Conformity score E = max((m − y)/(m − lo), (y − m)/(hi − m)): y lies in the interval scaled by s iff
    E ≤ s. s is the ⌈(k + 1)·confidence⌉-th smallest of the k scores (Romano, Patterson & Candès 2019,
    normalised by the half-widths), which covers at least `confidence` of new points exchangeable with the
    calibration set.
    """
    below = (median - truth) / np.maximum(median - lower, 1e-9)
    above = (truth - median) / np.maximum(upper - median, 1e-9)
    scores = np.sort(np.maximum(below, above))
    k = scores.size
    rank = min(k, math.ceil((k + 1) * confidence))
    return float(max(scores[rank - 1], 1e-3))


def check_cell_edges(edges: dict) -> None:
    """Raise ValueError unless `edges` bins known observables by finite, strictly increasing inner edges."""
    if not isinstance(edges, dict):
        raise TypeError(f"cell edges must be a dict of observable -> inner bin edges, got {type(edges).__name__}")
    unknown = sorted(set(edges) - set(OBSERVABLES))
    if unknown:
        raise ValueError(f"cell edges may only bin {list(OBSERVABLES)}, got {unknown}")
    for name, bins in edges.items():
        if not bins or not all(math.isfinite(e) for e in bins) or any(a >= b for a, b in itertools.pairwise(bins)):
            raise ValueError(f"cell edges of {name!r} must be finite and strictly increasing, got {tuple(bins)}")


def _cell_index(edges: dict, observed: dict) -> np.ndarray:
    """Row-major cell numbers of observables (arrays or scalars) over `edges`; bins are closed below."""
    index = np.zeros(np.shape(next(iter(observed.values()))), dtype=np.int64)
    for name, bins in edges.items():
        if name not in observed:
            raise ValueError(f"observed must give {name!r} for this calibration record, got {sorted(observed)}")
        value = np.asarray(observed[name], dtype=np.float64)
        if np.isnan(value).any():
            raise ValueError(f"observed {name!r} is NaN")
        index = index * (len(bins) + 1) + np.searchsorted(np.asarray(bins, dtype=np.float64), value, side="right")
    return index


def calibration_cell(calibration: dict, observed: dict[str, float]) -> int | None:
    """The index of the record's Mondrian cell holding a sample's observables (None: the record has no cells).

    Cells are numbered row-major over the record's `cell_edges`, in their order; an observable's bin is the
    number of its edges at or below it.
    """
    edges = calibration.get("cell_edges")
    return None if not edges else int(_cell_index(edges, observed))


def scale_for(calibration: dict | None, n: int, observed: dict[str, float] | None = None) -> float:
    """The conformal scale of a checkpoint's calibration record for a sample of n rows (1.0 without one).

    Records with a grid (`by_n` entries carrying `n`) interpolate linearly in log n between grid points and hold
    the end values outside; with `cell_edges` and the sample's `observed` values, the scales are those of its
    cell (`calibration_cell`). Records with `by_n` bins (`per_bin`) use the bin holding n; older records have
    one pooled `scale`.
    """
    if not calibration:
        return 1.0
    by_n = calibration.get("by_n", [])
    if by_n and "n" in by_n[0]:
        cell = None if observed is None else calibration_cell(calibration, observed)
        grid = np.log([float(p["n"]) for p in by_n])
        scales = [float(p["scale"] if cell is None else p["cells"][cell]["scale"]) for p in by_n]
        return float(np.interp(math.log(n), grid, scales))
    for b in by_n:
        if calibration.get("per_bin") and b["min_n"] <= n < b["max_n"]:
            return float(b["scale"])
    return float(calibration["scale"])


def _family_scales(
    median: np.ndarray, lower: np.ndarray, upper: np.ndarray, truth: np.ndarray, family: np.ndarray, confidence: float
) -> dict:
    """The pooled conformal scale of the points and each family's own (families with enough points)."""
    out = {"pooled": {"scale": conformal_scale(median, lower, upper, truth, confidence), "tasks": int(truth.size)}}
    for name in sorted(set(family.tolist())):
        inside = family == name
        if inside.sum() >= MIN_FAMILY_DRAWS:
            m, lo, hi, t = median[inside], lower[inside], upper[inside], truth[inside]
            out[name] = {"scale": conformal_scale(m, lo, hi, t, confidence), "tasks": int(inside.sum())}
    return out


@torch.no_grad()
def calibration_draws(
    model: QuantileMINetwork,
    data: MetaDataConfig,
    seed: int,
    batches: int,
    sign_average: bool = True,
    progress: bool = False,
) -> list[CalibrationDraws]:
    """The quantiles of `batches` fresh meta-training batches at every grid n (N_GRID inside the trained range).

    Every point of N_GRID inside the trained range (and the range's ends) draws its own samples of exactly that
    n, in batches of at least ``max(data.min_batch, 8)`` samples, so large n is calibrated on as many draws as
    small n. The quantiles are the ones the estimator will use: sign-averaged (`predict_quantiles`) when
    `sign_average`.
    """
    model.eval()
    lowest, highest = max(N_GRID[0], data.min_n), min(N_GRID[-1], data.max_n)
    grid = sorted({lowest, highest, *(n for n in N_GRID if lowest < n < highest)})
    least = max(data.min_batch, 8)
    out = []
    bar = Progress(TextColumn("calibration draws"), BarColumn(), MofNCompleteColumn(), disable=not progress)
    task = bar.add_task("draws", total=len(grid) * batches)
    bar.start()
    for g, n in enumerate(grid):
        point_data = replace(data, min_n=n, max_n=n, min_batch=least, max_batch=max(data.max_batch, least))
        preds, truths, families, inv_dofs = [], [], [], []
        for i in range(batches):
            batch = draw_batch(seed + CALIBRATION_SEED_OFFSET + g, i, point_data)
            zx, zy, stats, target = batch_tensors(batch, model.config)
            preds.append(predict_quantiles(model, zx, zy, stats, sign_average).double().numpy())
            truths.append(target.double().numpy())
            families += batch.families
            if stats.dim() == 2 and stats.shape[1] > 2:
                inv_dofs.append(stats[:, 2].double().numpy())
            bar.advance(task)
        inv_dof = np.concatenate(inv_dofs) if inv_dofs else None
        out.append(CalibrationDraws(n, np.concatenate(preds), np.concatenate(truths), np.array(families), inv_dof))
    bar.stop()
    return out


def _cell_scales(
    member: np.ndarray,
    median: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    truth: np.ndarray,
    family: np.ndarray,
    confidence: float,
    fallback: float,
) -> dict:
    """One cell's scale: the largest of its families' (and its pooled) scale, or `fallback` when it is too small."""
    if member.sum() < MIN_FAMILY_DRAWS:
        return {"scale": fallback, "families": {}, "too_few_draws": int(member.sum())}
    families = _family_scales(median[member], lower[member], upper[member], truth[member], family[member], confidence)
    return {"scale": max(f["scale"] for f in families.values()), "families": families}


def fit_calibration(
    draws: list[CalibrationDraws],
    levels: tuple[float, ...],
    confidence: float = 0.9,
    cell_edges: dict[str, tuple[float, ...]] | None = CELL_EDGES,
) -> dict:
    """The calibration record of `draws`: at each grid n, the largest of the families' scales (and the pooled one).

    Every meta-training family gets 90% coverage on its own (group-conditional, "Mondrian" conformal), not just
    the mixture, since a user's data is one distribution, not a draw from the mixture. With `cell_edges` (and
    draws carrying the fitted 1/dof), each cell of the observables (`calibration_cell`) also gets the largest of
    the families' scales among its own draws; a cell with fewer than MIN_FAMILY_DRAWS draws at some n takes
    that n's overall scale.
    """
    lo_i, hi_i, med_i = levels.index(0.05), levels.index(0.95), levels.index(0.5)
    if cell_edges is not None:
        check_cell_edges(cell_edges)
    celled = cell_edges is not None and all(d.inv_dof is not None for d in draws)
    by_n = []
    for d in draws:
        median, lower, upper = d.quantiles[:, med_i], d.quantiles[:, lo_i], d.quantiles[:, hi_i]
        families = _family_scales(median, lower, upper, d.truth, d.family, confidence)
        point: dict = {
            "n": d.n,
            "scale": max(f["scale"] for f in families.values()),
            "families": families,
            "raw_coverage": float(np.mean((lower <= d.truth) & (d.truth <= upper))),
            "tasks": int(d.truth.size),
        }
        if celled:
            assert cell_edges is not None
            cell = _cell_index(cell_edges, {"inv_dof": d.inv_dof, "median": median})
            cells = int(np.prod([len(b) + 1 for b in cell_edges.values()]))
            point["cells"] = [
                _cell_scales(cell == c, median, lower, upper, d.truth, d.family, confidence, point["scale"])
                for c in range(cells)
            ]
        by_n.append(point)
    pred = np.concatenate([d.quantiles for d in draws])
    truth = np.concatenate([d.truth for d in draws])
    median = pred[:, med_i]
    out = {
        "by_n": by_n,
        "method": "split conformal (normalised CQR) on the 0.05/0.95 quantiles; at each grid n, the largest of "
        "the families' scales (and of the pooled one)"
        + (", within each Mondrian cell of " + " x ".join(cell_edges) if celled and cell_edges else "")
        + "; linear in log n between grid points",
        "confidence": confidence,
        "scale": conformal_scale(median, pred[:, lo_i], pred[:, hi_i], truth, confidence),
        "tasks": int(truth.size),
        "raw_coverage": float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i]))),
        "median_mae": float(np.mean(np.abs(np.maximum(median, 0.0) - truth))),
    }
    if celled:
        assert cell_edges is not None
        out["cell_edges"] = {k: [float(e) for e in v] for k, v in cell_edges.items()}
    return out


def calibrate(
    model: QuantileMINetwork,
    data: MetaDataConfig,
    seed: int,
    batches: int,
    confidence: float = 0.9,
    sign_average: bool = True,
    cell_edges: dict[str, tuple[float, ...]] | None = CELL_EDGES,
    progress: bool = False,
) -> dict:
    """Fit the scale of the outer quantiles on fresh meta-training draws, `batches` batches per grid n.

    `calibration_draws` then `fit_calibration`; the record says the seed, the batches and whether the quantiles
    were sign-averaged (the estimator then averages too).
    """
    draws = calibration_draws(model, data, seed, batches, sign_average, progress)
    record = fit_calibration(draws, tuple(model.config.quantiles), confidence, cell_edges)
    return {
        **record,
        "sign_average": sign_average,
        "seed": seed + CALIBRATION_SEED_OFFSET,
        "batches_per_n": batches,
    }
