"""Split-conformal widening of the learned 90% interval, fitted on held-out draws of the meta-distribution."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

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


def scale_for(calibration: dict | None, n: int) -> float:
    """The conformal scale of a checkpoint's calibration record for a sample of n rows (1.0 without one).

    Records with a grid (`by_n` entries carrying `n`) interpolate linearly in log n between grid points and hold
    the end values outside; records with `by_n` bins (`per_bin`) use the bin holding n; older records have one
    pooled `scale`.
    """
    if not calibration:
        return 1.0
    by_n = calibration.get("by_n", [])
    if by_n and "n" in by_n[0]:
        grid = np.log([float(p["n"]) for p in by_n])
        return float(np.interp(math.log(n), grid, [float(p["scale"]) for p in by_n]))
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
def calibrate(
    model: QuantileMINetwork,
    data: MetaDataConfig,
    seed: int,
    batches: int,
    confidence: float = 0.9,
    sign_average: bool = True,
) -> dict:
    """Fit the scale of the outer quantiles on fresh meta-training draws, `batches` batches per grid n.

    Every point of N_GRID inside the trained range (and the range's ends) draws its own samples of exactly that
    n, in batches of at least ``max(data.min_batch, 8)`` samples, so large n is calibrated on as many draws as
    small n. A point's scale is the largest of its families' own conformal scales (and of the pooled one):
    every meta-training family gets 90% coverage on its own (group-conditional, "Mondrian" conformal), not just
    the mixture, since a user's data is one distribution, not a draw from the mixture. The quantiles are the
    ones the estimator will use: sign-averaged (`model.predict_quantiles`) when `sign_average`, which the
    record says.
    """
    lo_i, hi_i = model.config.quantiles.index(0.05), model.config.quantiles.index(0.95)
    med_i = model.median_index
    model.eval()
    lowest, highest = max(N_GRID[0], data.min_n), min(N_GRID[-1], data.max_n)
    grid = sorted({lowest, highest, *(n for n in N_GRID if lowest < n < highest)})
    least = max(data.min_batch, 8)
    by_n, preds, truths = [], [], []
    for g, n in enumerate(grid):
        point_data = replace(data, min_n=n, max_n=n, min_batch=least, max_batch=max(data.max_batch, least))
        point_pred, point_truth, point_family = [], [], []
        for i in range(batches):
            batch = draw_batch(seed + CALIBRATION_SEED_OFFSET + g, i, point_data)
            zx, zy, cop, target = batch_tensors(batch, model.config)
            point_pred.append(predict_quantiles(model, zx, zy, cop, sign_average).double().numpy())
            point_truth.append(target.double().numpy())
            point_family += batch.families
        pred, truth, family = np.concatenate(point_pred), np.concatenate(point_truth), np.array(point_family)
        median = pred[:, med_i]  # the estimator widens around the raw median (then clips the interval at 0)
        families = _family_scales(median, pred[:, lo_i], pred[:, hi_i], truth, family, confidence)
        by_n.append(
            {
                "n": n,
                "scale": max(f["scale"] for f in families.values()),
                "families": families,
                "raw_coverage": float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i]))),
                "tasks": int(truth.size),
            }
        )
        preds.append(pred)
        truths.append(truth)
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    median = pred[:, med_i]
    return {
        "by_n": by_n,
        "method": "split conformal (normalised CQR) on the 0.05/0.95 quantiles; at each grid n, the largest of "
        "the families' scales (and of the pooled one); linear in log n between grid points",
        "confidence": confidence,
        "sign_average": sign_average,
        "scale": conformal_scale(median, pred[:, lo_i], pred[:, hi_i], truth, confidence),
        "tasks": int(truth.size),
        "raw_coverage": float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i]))),
        "seed": seed + CALIBRATION_SEED_OFFSET,
        "batches_per_n": batches,
        "median_mae": float(np.mean(np.abs(np.maximum(median, 0.0) - truth))),
    }
