"""Calibration: the conformal scale, its grid in n, Mondrian groups by family and by cells of observables."""

import math
from dataclasses import replace

import numpy as np
import pytest

from infomix.core.threads import torch_threads
from infomix.mi.learned.calibration import (
    MIN_FAMILY_DRAWS,
    CalibrationDraws,
    calibrate,
    calibration_cell,
    conformal_scale,
    fit_calibration,
    scale_for,
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


def _draws(rng, n, spreads, inv_dofs, offsets, per_family=400):
    """Families whose truths scatter by `spreads` around quantiles of half-width 1 centred near `offsets`."""
    truth, family, inv_dof, centre = [], [], [], []
    for name, spread in spreads.items():
        truth.append(rng.normal(scale=spread, size=per_family))
        family += [name] * per_family
        inv_dof.append(np.full(per_family, inv_dofs[name]) + rng.uniform(0, 0.01, per_family))
        centre.append(offsets[name] + rng.uniform(0, 0.2, per_family))
    t, m = np.concatenate(truth), np.concatenate(centre)
    quantiles = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])[None, :] + m[:, None]
    return CalibrationDraws(n, quantiles, t + m, np.array(family), np.concatenate(inv_dof))


def _covered(d, f, s):
    median, lower, upper = d.quantiles[f, 2], d.quantiles[f, 0], d.quantiles[f, 4]
    return (median - s * (median - lower) <= d.truth[f]) & (d.truth[f] <= median + s * (upper - median))


SPREADS = {"normal-low": 0.3, "normal-high": 0.5, "student-low": 0.9, "student-high": 0.7}
INV_DOFS = {"normal-low": 0.0, "normal-high": 0.01, "student-low": 0.4, "student-high": 0.3}
OFFSETS = {"normal-low": 0.1, "normal-high": 2.0, "student-low": 0.2, "student-high": 2.5}
EDGES = {"inv_dof": (0.05,), "median": (1.0,)}


def test_cells_take_the_largest_family_scale_among_their_own_draws():
    rng = np.random.default_rng(3)
    draws = [_draws(rng, n, SPREADS, INV_DOFS, OFFSETS) for n in (100, 1000)]
    record = fit_calibration(draws, LEVELS, cell_edges=EDGES)
    assert record["cell_edges"] == {"inv_dof": [0.05], "median": [1.0]}
    # row-major over (inv_dof, median): light-low, light-high, heavy-low, heavy-high, one family each
    order = ["normal-low", "normal-high", "student-low", "student-high"]
    for d, point in zip(draws, record["by_n"], strict=True):
        assert len(point["cells"]) == 4
        for name, cell in zip(order, point["cells"], strict=True):
            f = d.family == name
            m, lo, hi = d.quantiles[f, 2], d.quantiles[f, 0], d.quantiles[f, 4]
            assert cell["scale"] == pytest.approx(conformal_scale(m, lo, hi, d.truth[f], 0.9))
            assert set(cell["families"]) == {"pooled", name}
            observed = {"inv_dof": float(d.inv_dof[f][0]), "median": float(m[0])}
            assert calibration_cell(record, observed) == order.index(name)
            assert _covered(d, f, scale_for(record, d.n, observed)).mean() >= 0.9
        assert point["scale"] == pytest.approx(point["families"]["student-low"]["scale"])
        assert point["cells"][0]["scale"] < 0.5 * point["scale"]  # the easy cell is not widened for the hard one
    n_mid = int(math.sqrt(100 * 1000))
    ends = [p["cells"][1]["scale"] for p in record["by_n"]]
    observed = {"inv_dof": 0.0, "median": 3.0}
    assert scale_for(record, n_mid, observed) == pytest.approx(np.mean(ends), rel=1e-2)  # half way in log n
    assert scale_for(record, n_mid) == pytest.approx(np.mean([p["scale"] for p in record["by_n"]]), rel=1e-2)


def test_a_cell_with_too_few_draws_takes_the_overall_scale():
    rng = np.random.default_rng(5)
    spreads = {"normal-low": 0.3, "student-low": 0.9}
    draws = [_draws(rng, 100, spreads, INV_DOFS, OFFSETS, per_family=MIN_FAMILY_DRAWS)]
    point = fit_calibration(draws, LEVELS, cell_edges=EDGES)["by_n"][0]
    light_low, light_high, heavy_low, heavy_high = point["cells"]
    assert light_high == {"scale": point["scale"], "families": {}, "too_few_draws": 0}
    assert heavy_high["too_few_draws"] == 0 and heavy_low["scale"] == point["scale"]
    assert light_low["scale"] < point["scale"]


def test_cells_need_the_fitted_dof_and_sane_edges():
    rng = np.random.default_rng(4)
    draws = [_draws(rng, 100, {"a": 0.5}, {"a": 0.0}, {"a": 0.3}, per_family=MIN_FAMILY_DRAWS)]
    assert "cell_edges" not in fit_calibration([replace(draws[0], inv_dof=None)], LEVELS)
    assert "cell_edges" not in fit_calibration(draws, LEVELS, cell_edges=None)
    for bad in ({"inv_dof": (0.25, 0.05)}, {"inv_dof": ()}, {"median": (0.5, math.inf)}):
        with pytest.raises(ValueError, match="must be finite and strictly increasing"):
            fit_calibration(draws, LEVELS, cell_edges=bad)
    with pytest.raises(ValueError, match=r"may only bin \['inv_dof', 'median'\], got \['width'\]"):
        fit_calibration(draws, LEVELS, cell_edges={"width": (0.1,)})
    with pytest.raises(TypeError, match="cell edges must be a dict"):
        fit_calibration(draws, LEVELS, cell_edges=[0.05])  # type: ignore[arg-type]
    record = fit_calibration(draws, LEVELS, cell_edges={"inv_dof": (0.05, 0.25), "median": (0.5,)})
    assert calibration_cell(record, {"inv_dof": 0.0, "median": 0.2}) == 0
    assert calibration_cell(record, {"inv_dof": 0.05, "median": 0.5}) == 3  # bins are closed below
    assert calibration_cell(record, {"inv_dof": 3.0, "median": 9.0}) == 5
    assert calibration_cell({}, {"inv_dof": 0.3, "median": 1.0}) is None
    with pytest.raises(ValueError, match="inv_dof"):
        calibration_cell(record, {"inv_dof": float("nan"), "median": 1.0})
    with pytest.raises(ValueError, match="median"):
        calibration_cell(record, {"inv_dof": 0.1})


def test_calibrating_a_network_that_reads_the_t_fit_records_cells():
    config = replace(TINY, model=replace(TINY.model, t_statistics=True))
    with torch_threads(1):
        record = calibrate(Trainer(config).ema, config.data, seed=0, batches=3)
    cells = math.prod(len(e) + 1 for e in record["cell_edges"].values())
    for point in record["by_n"]:
        assert len(point["cells"]) == cells and all(c["scale"] > 0 for c in point["cells"])
        assert (
            sum(c["families"].get("pooled", {}).get("tasks", c.get("too_few_draws", 0)) for c in point["cells"])
            == point["tasks"]
        )
