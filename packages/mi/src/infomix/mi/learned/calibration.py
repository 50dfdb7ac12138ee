"""Split-conformal widening of the learned 90% interval, fitted on held-out draws of the meta-distribution."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import torch

from infomix.mi.learned.metadata import MetaDataConfig, draw_batch
from infomix.mi.learned.model import QuantileMINetwork
from infomix.mi.learned.training import batch_tensors

CALIBRATION_SEED_OFFSET = 2_000_003
# sample sizes are calibrated in bins (each gets its own scale): the network's errors shrink with n faster than
# its quantiles do at small n, so one pooled scale under-covers n ~ 100 and over-covers n ~ 5000
N_BIN_EDGES = (100, 150, 250, 500, 1000, 2500, 5001)
MIN_FAMILY_DRAWS = 20  # a family's own scale needs at least this many draws in the bin


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

    Records with `by_n` bins use the bin holding n; older records have one pooled `scale`.
    """
    if not calibration:
        return 1.0
    for b in calibration.get("by_n", []):
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
def calibrate(model: QuantileMINetwork, data: MetaDataConfig, seed: int, batches: int, confidence: float = 0.9) -> dict:
    """Fit the scale of the outer quantiles on fresh meta-training draws, `batches` batches per n bin.

    Each bin draws n log-uniformly inside its edges (clipped to the trained range) with batches of at least
    ``max(data.min_batch, 8)`` samples, so large n is calibrated on as many draws as small n. A bin's scale
    is the largest of its families' own conformal scales (and of the pooled one): every meta-training family
    gets 90% coverage on its own (group-conditional, "Mondrian" conformal), not just the mixture, since a
    user's data is one distribution, not a draw from the mixture.
    """
    lo_i, hi_i = model.config.quantiles.index(0.05), model.config.quantiles.index(0.95)
    med_i = model.median_index
    model.eval()
    by_n, preds, truths = [], [], []
    for b, (lo_n, hi_n) in enumerate(itertools.pairwise(N_BIN_EDGES)):
        lo_n, hi_n = max(lo_n, data.min_n), min(hi_n - 1, data.max_n)
        if lo_n > hi_n:
            continue
        least = max(data.min_batch, 8)
        bin_data = replace(data, min_n=lo_n, max_n=hi_n, min_batch=least, max_batch=max(data.max_batch, least))
        bin_pred, bin_truth, bin_family = [], [], []
        for i in range(batches):
            batch = draw_batch(seed + CALIBRATION_SEED_OFFSET + b, i, bin_data)
            zx, zy, cop, target = batch_tensors(batch)
            bin_pred.append(model(zx, zy, cop).double().numpy())
            bin_truth.append(target.double().numpy())
            bin_family += batch.families
        pred, truth, family = np.concatenate(bin_pred), np.concatenate(bin_truth), np.array(bin_family)
        median = pred[:, med_i]  # the estimator widens around the raw median (then clips the interval at 0)
        families = _family_scales(median, pred[:, lo_i], pred[:, hi_i], truth, family, confidence)
        by_n.append(
            {
                "min_n": lo_n,
                "max_n": hi_n + 1,
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
        "per_bin": True,
        "method": "split conformal (normalised CQR) on the 0.05/0.95 quantiles; per n bin, the largest of the "
        "families' scales (and of the pooled one)",
        "confidence": confidence,
        "scale": conformal_scale(median, pred[:, lo_i], pred[:, hi_i], truth, confidence),
        "tasks": int(truth.size),
        "raw_coverage": float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i]))),
        "seed": seed + CALIBRATION_SEED_OFFSET,
        "batches_per_bin": batches,
        "median_mae": float(np.mean(np.abs(np.maximum(median, 0.0) - truth))),
    }
