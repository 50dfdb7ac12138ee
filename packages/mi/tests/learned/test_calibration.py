"""Calibration: the conformal scale, its grid in n, Mondrian groups by family and by the fitted tails."""

import math
from dataclasses import replace

import numpy as np
import pytest

from infomix.core.threads import torch_threads
from infomix.mi.learned.calibration import (
    MIN_FAMILY_DRAWS,
    CalibrationDraws,
    calibrate,
    conformal_scale,
    fit_calibration,
    scale_for,
    tail_group,
)
from infomix.mi.learned.training import Trainer

from .test_training import TINY

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def test_conformal_scale_hand_case():
    median = np.zeros(9)
    truth = np.array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9])
    # half-widths 1 on both sides: the scores are |truth|; ⌈10·0.8⌉ = 8th smallest = 0.8
    assert conformal_scale(median, median - 1, median + 1, truth, 0.8) == pytest.approx(0.8)
    # half-widths 2 below, 0.5 above: scores |t|/2 for t < 0 and 2t for t > 0
    scores = np.sort(np.where(truth < 0, -truth / 2, 2 * truth))
    assert conformal_scale(median, median - 2, median + 0.5, truth, 0.8) == pytest.approx(scores[7])


def test_scale_for_interpolates_a_grid_in_log_n_and_reads_older_records():
    grid = {"scale": 1.3, "by_n": [{"n": 100, "scale": 2.0}, {"n": 1000, "scale": 1.0}, {"n": 5000, "scale": 0.8}]}
    assert scale_for(grid, 100) == pytest.approx(2.0) and scale_for(grid, 1000) == pytest.approx(1.0)
    assert scale_for(grid, 316) == pytest.approx(1.5, abs=1e-3)  # half way in log n
    assert scale_for(grid, 50) == pytest.approx(2.0) and scale_for(grid, 9000) == pytest.approx(0.8)
    bins = {
        "scale": 1.3,
        "per_bin": True,
        "by_n": [{"min_n": 100, "max_n": 500, "scale": 2.0}, {"min_n": 500, "max_n": 5001, "scale": 0.9}],
    }
    assert scale_for(bins, 100) == 2.0 and scale_for(bins, 499) == 2.0
    assert scale_for(bins, 500) == 0.9 and scale_for(bins, 5000) == 0.9
    assert scale_for({**bins, "per_bin": False}, 100) == 1.3  # older records: diagnostic bins only
    assert scale_for(None, 100) == 1.0


def test_calibration_grid_spans_the_trained_range_with_its_own_draws():
    with torch_threads(1):
        trainer = Trainer(TINY)
        record = calibrate(trainer.ema, TINY.data, seed=0, batches=2)
    points = [p["n"] for p in record["by_n"]]
    assert points[0] == TINY.data.min_n and points[-1] == TINY.data.max_n and points == sorted(set(points))
    assert all(p["tasks"] >= 2 * 8 and p["scale"] > 0 for p in record["by_n"])  # batches of at least 8 draws
    assert record["tasks"] == sum(p["tasks"] for p in record["by_n"])
    assert scale_for(record, 150) > 0
    assert record["sign_average"] is True


def _draws(rng, n, spreads, inv_dofs, per_family=400):
    """Draws of families whose truths scatter by `spreads` around quantiles of half-width 1, fitted 1/dof given."""
    truth, family, inv_dof = [], [], []
    for name, spread in spreads.items():
        truth.append(rng.normal(scale=spread, size=per_family))
        family += [name] * per_family
        inv_dof.append(np.full(per_family, inv_dofs[name]) + rng.uniform(0, 0.01, per_family))
    t = np.concatenate(truth)
    quantiles = np.tile(np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), (t.size, 1)) + rng.uniform(2, 3, size=(t.size, 1))
    return CalibrationDraws(n, quantiles, t + quantiles[:, 2], np.array(family), np.concatenate(inv_dof))


def test_tail_groups_take_the_largest_family_scale_among_their_own_draws():
    rng = np.random.default_rng(3)
    spreads = {"normal-a": 0.3, "normal-b": 0.5, "student-a": 0.9}
    draws = [_draws(rng, n, spreads, {"normal-a": 0.0, "normal-b": 0.01, "student-a": 0.4}) for n in (100, 1000)]
    record = fit_calibration(draws, LEVELS, tail_edges=(0.05, 0.25, math.inf))
    assert record["tail_edges"] == [0.05, 0.25, math.inf]
    for d, point in zip(draws, record["by_n"], strict=True):
        light, middle, heavy = point["tail_groups"]
        median, lower, upper = d.quantiles[:, 2], d.quantiles[:, 0], d.quantiles[:, 4]
        inside = d.family != "student-a"
        each = [
            conformal_scale(median[f], lower[f], upper[f], d.truth[f], 0.9)
            for f in (d.family == "normal-a", d.family == "normal-b")
        ]
        assert light["scale"] == pytest.approx(
            max(*each, conformal_scale(median[inside], lower[inside], upper[inside], d.truth[inside], 0.9))
        )
        assert middle["too_few_draws"] == 0 and middle["scale"] == point["scale"]  # no draws: the overall scale
        assert heavy["scale"] == pytest.approx(point["families"]["student-a"]["scale"]) == point["scale"]
        assert light["scale"] < 0.8 * heavy["scale"]  # the light-tailed families are not widened for the heavy
        for name in spreads:  # every family is covered at 90% by its group's scale
            f = d.family == name
            s = scale_for(record, d.n, float(d.inv_dof[f][0]))
            covered = (median[f] - s * (median[f] - lower[f]) <= d.truth[f]) & (
                d.truth[f] <= median[f] + s * (upper[f] - median[f])
            )
            assert covered.mean() >= 0.9
    n_mid = int(math.sqrt(100 * 1000))
    light_ends = [p["tail_groups"][0]["scale"] for p in record["by_n"]]
    assert scale_for(record, n_mid, 0.0) == pytest.approx(np.mean(light_ends), rel=1e-2)  # half way in log n
    assert scale_for(record, n_mid) == pytest.approx(np.mean([p["scale"] for p in record["by_n"]]), rel=1e-2)


def test_tail_groups_need_the_fitted_dof_and_sane_edges():
    rng = np.random.default_rng(4)
    draws = [_draws(rng, 100, {"a": 0.5}, {"a": 0.0}, per_family=MIN_FAMILY_DRAWS)]
    assert "tail_edges" not in fit_calibration([replace(draws[0], inv_dof=None)], LEVELS)
    assert "tail_edges" not in fit_calibration(draws, LEVELS, tail_edges=None)
    with pytest.raises(ValueError, match="tail_edges must increase and end with inf"):
        fit_calibration(draws, LEVELS, tail_edges=(0.25, 0.05, math.inf))
    with pytest.raises(ValueError, match="tail_edges must increase and end with inf"):
        fit_calibration(draws, LEVELS, tail_edges=(0.05, 0.25))
    record = fit_calibration(draws, LEVELS)
    assert tail_group(record, 0.0) == 0 and tail_group(record, 0.1) == 1 and tail_group(record, 3.0) == 2
    assert tail_group({}, 0.3) is None
    with pytest.raises(ValueError, match="inv_dof"):
        tail_group(record, float("nan"))


def test_calibrating_a_network_that_reads_the_t_fit_records_tail_groups():
    config = replace(TINY, model=replace(TINY.model, t_statistics=True))
    with torch_threads(1):
        record = calibrate(Trainer(config).ema, config.data, seed=0, batches=3)
    assert record["tail_edges"][-1] == math.inf
    for point in record["by_n"]:
        assert len(point["tail_groups"]) == len(record["tail_edges"])
        assert all(g["scale"] > 0 for g in point["tail_groups"])
        assert (
            sum(g["families"].get("pooled", {}).get("tasks", g.get("too_few_draws", 0)) for g in point["tail_groups"])
            == point["tasks"]
        )
