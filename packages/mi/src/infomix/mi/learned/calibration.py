"""Split-conformal widening of the learned 90% interval, fitted on held-out draws of the meta-distribution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from infomix.mi.learned.metadata import MetaDataConfig, draw_batch
from infomix.mi.learned.model import QuantileMINetwork
from infomix.mi.learned.training import batch_tensors

CALIBRATION_SEED_OFFSET = 2_000_003
N_BIN_EDGES = (300, 1000)  # diagnostic scales for n < 300, 300 <= n < 1000 and n >= 1000 (not applied)


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


@torch.no_grad()
def calibrate(model: QuantileMINetwork, data: MetaDataConfig, seed: int, batches: int, confidence: float = 0.9) -> dict:
    """Fit the scale of the outer quantiles on `batches` fresh meta-training batches; return a record."""
    lo_i, hi_i = model.config.quantiles.index(0.05), model.config.quantiles.index(0.95)
    med_i = model.median_index
    preds, truths, ns = [], [], []
    model.eval()
    for i in range(batches):
        batch = draw_batch(seed + CALIBRATION_SEED_OFFSET, i, data)
        zx, zy, cop, target = batch_tensors(batch)
        preds.append(model(zx, zy, cop).double().numpy())
        truths.append(target.double().numpy())
        ns.append(np.full(target.shape[0], zx.shape[1]))
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    median = pred[:, med_i]  # the estimator widens around the raw median too (then clips the interval at 0)
    raw_cover = float(np.mean((pred[:, lo_i] <= truth) & (truth <= pred[:, hi_i])))
    scale = conformal_scale(median, pred[:, lo_i], pred[:, hi_i], truth, confidence)
    n_all = np.concatenate(ns)
    edges = (0, *N_BIN_EDGES, 10**9)
    by_n = []
    for lo_n, hi_n in itertools.pairwise(edges):
        inside = (n_all >= lo_n) & (n_all < hi_n)
        if inside.sum() >= 20:
            s = conformal_scale(median[inside], pred[inside, lo_i], pred[inside, hi_i], truth[inside], confidence)
            by_n.append({"min_n": lo_n, "max_n": hi_n, "scale": s, "tasks": int(inside.sum())})
    return {
        "by_n": by_n,
        "method": "split conformal (normalised CQR) on the 0.05/0.95 quantiles; one scale for all n (by_n: diagnostic)",
        "confidence": confidence,
        "scale": scale,
        "tasks": int(truth.size),
        "raw_coverage": raw_cover,
        "seed": seed + CALIBRATION_SEED_OFFSET,
        "batches": batches,
        "median_mae": float(np.mean(np.abs(np.maximum(median, 0.0) - truth))),
    }
