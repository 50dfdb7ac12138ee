"""Split-conformal widening of the learned 90% interval, fitted on held-out draws of the meta-distribution."""

from __future__ import annotations

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
MIN_FAMILY_DRAWS = 20  # a family's own scale needs at least this many draws at a grid point
# upper edges of the tail groups in the quick t-copula fit's 1/dof (the head's third input): a sample is
# calibrated with the families' scales among the draws whose fit fell in its group (Mondrian conformal by an
# observable); without this, the Student-t families' larger scale at n = 5000 widened Gaussian samples too
TAIL_EDGES = (0.05, 0.25, math.inf)


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


def tail_group(calibration: dict, inv_dof: float) -> int | None:
    """The index of the calibration record's tail group holding a fitted 1/dof (None: the record has none)."""
    edges = calibration.get("tail_edges")
    if not edges:
        return None
    if not math.isfinite(inv_dof) or inv_dof < 0:
        raise ValueError(f"inv_dof must be a finite 1/dof >= 0, got {inv_dof}")
    return next(i for i, edge in enumerate(edges) if inv_dof < float(edge))


def scale_for(calibration: dict | None, n: int, inv_dof: float | None = None) -> float:
    """The conformal scale of a checkpoint's calibration record for a sample of n rows (1.0 without one).

    Records with a grid (`by_n` entries carrying `n`) interpolate linearly in log n between grid points and hold
    the end values outside; with `tail_edges` and the sample's fitted 1/dof, the scales are those of its tail
    group. Records with `by_n` bins (`per_bin`) use the bin holding n; older records have one pooled `scale`.
    """
    if not calibration:
        return 1.0
    by_n = calibration.get("by_n", [])
    if by_n and "n" in by_n[0]:
        group = None if inv_dof is None else tail_group(calibration, inv_dof)
        grid = np.log([float(p["n"]) for p in by_n])
        scales = [float(p["scale"] if group is None else p["tail_groups"][group]["scale"]) for p in by_n]
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


def fit_calibration(
    draws: list[CalibrationDraws],
    levels: tuple[float, ...],
    confidence: float = 0.9,
    tail_edges: tuple[float, ...] | None = TAIL_EDGES,
) -> dict:
    """The calibration record of `draws`: at each grid n, the largest of the families' scales (and the pooled one).

    Every meta-training family gets 90% coverage on its own (group-conditional, "Mondrian" conformal), not just
    the mixture, since a user's data is one distribution, not a draw from the mixture. With `tail_edges` (and
    draws carrying the fitted 1/dof), each tail group also gets the largest of the families' scales among its
    own draws; a group with fewer than MIN_FAMILY_DRAWS draws at some n takes that n's overall scale.
    """
    lo_i, hi_i, med_i = levels.index(0.05), levels.index(0.95), levels.index(0.5)
    grouped = tail_edges is not None and all(d.inv_dof is not None for d in draws)
    if tail_edges is not None and (list(tail_edges) != sorted(tail_edges) or tail_edges[-1] != math.inf):
        raise ValueError(f"tail_edges must increase and end with inf, got {tail_edges}")
    by_n = []
    for d in draws:
        median, lower, upper = d.quantiles[:, med_i], d.quantiles[:, lo_i], d.quantiles[:, hi_i]
        families = _family_scales(median, lower, upper, d.truth, d.family, confidence)
        point = {
            "n": d.n,
            "scale": max(f["scale"] for f in families.values()),
            "families": families,
            "raw_coverage": float(np.mean((lower <= d.truth) & (d.truth <= upper))),
            "tasks": int(d.truth.size),
        }
        if grouped:
            assert d.inv_dof is not None and tail_edges is not None
            groups, low = [], -math.inf
            for edge in tail_edges:
                inside = (d.inv_dof >= low) & (d.inv_dof < edge)
                if inside.sum() >= MIN_FAMILY_DRAWS:
                    fam = _family_scales(
                        median[inside], lower[inside], upper[inside], d.truth[inside], d.family[inside], confidence
                    )
                    groups.append({"scale": max(f["scale"] for f in fam.values()), "families": fam})
                else:
                    groups.append({"scale": point["scale"], "families": {}, "too_few_draws": int(inside.sum())})
                low = edge
            point["tail_groups"] = groups
        by_n.append(point)
    pred = np.concatenate([d.quantiles for d in draws])
    truth = np.concatenate([d.truth for d in draws])
    median = pred[:, med_i]
    record = {
        "by_n": by_n,
        "method": "split conformal (normalised CQR) on the 0.05/0.95 quantiles; at each grid n, the largest of "
        "the families' scales (and of the pooled one)"
        + (", within each tail group of the quick t fit's 1/dof" if grouped else "")
        + "; linear in log n between grid points",
        "confidence": confidence,
        "scale": conformal_scale(median, pred[:, lo_i], pred[:, hi_i], truth, confidence),
        "tasks": int(truth.size),
        "raw_coverage": float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i]))),
        "median_mae": float(np.mean(np.abs(np.maximum(median, 0.0) - truth))),
    }
    if grouped:
        assert tail_edges is not None
        record["tail_edges"] = [float(e) for e in tail_edges]
    return record


def calibrate(
    model: QuantileMINetwork,
    data: MetaDataConfig,
    seed: int,
    batches: int,
    confidence: float = 0.9,
    sign_average: bool = True,
    tail_edges: tuple[float, ...] | None = TAIL_EDGES,
    progress: bool = False,
) -> dict:
    """Fit the scale of the outer quantiles on fresh meta-training draws, `batches` batches per grid n.

    `calibration_draws` then `fit_calibration`; the record says the seed, the batches and whether the quantiles
    were sign-averaged (the estimator then averages too).
    """
    draws = calibration_draws(model, data, seed, batches, sign_average, progress)
    record = fit_calibration(draws, tuple(model.config.quantiles), confidence, tail_edges)
    return {
        **record,
        "sign_average": sign_average,
        "seed": seed + CALIBRATION_SEED_OFFSET,
        "batches_per_n": batches,
    }
