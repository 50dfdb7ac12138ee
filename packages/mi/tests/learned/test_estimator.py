"""The shipped learned estimator: loads, is close to closed forms, keeps its invariances, refuses bad input."""

import json
import platform
import subprocess
import sys

import numpy as np
import pytest

from infomix.mi import estimate, task
from infomix.mi.learned.calibration import calibration_cell, scale_for
from infomix.mi.learned.estimator import LearnedEstimator, average_of_chunks, shipped_checkpoint
from infomix.mi.learned.metadata import MetaDataConfig, generator_hash
from infomix.mi.tasks import StudentTask, paired_correlation

NEGATED_X_TOLERANCE = 0.05  # negating x equals negating y and then both; the network is not exactly even


@pytest.fixture(scope="module")
def learned():
    return LearnedEstimator(threads=1)


def test_shipped_checkpoint_is_small_and_describes_its_training(learned):
    assert shipped_checkpoint().stat().st_size < 4 * 2**20
    meta = learned.meta
    assert meta["trained_steps"] > 0 and meta["train_seconds"] > 0
    assert meta["data_hash"] == generator_hash(MetaDataConfig.from_dict(meta["data_config"]))
    assert 0 < meta["calibration"]["scale"] < 10
    beside = json.loads(shipped_checkpoint().with_suffix(".json").read_text())
    assert beside["data_hash"] == meta["data_hash"]
    assert beside["model"] == meta["model_config"] and beside["data"] == meta["data_config"]


def test_close_to_the_closed_form_on_a_1v1_gaussian(learned):
    t = task("1v1-normal-0.75")
    x, y = t.sample(1000, seed=3)
    result = learned.estimate(x, y)
    assert result.value == pytest.approx(t.mutual_information, abs=0.1)
    assert result.lower <= result.value <= result.upper
    q = list(result.info["quantiles"].values())
    assert q == sorted(q)


def test_reports_the_t_copula_fit_its_head_read(learned):
    t = StudentTask(2, 2, dof=2.0)
    result = learned.estimate(*t.sample(2000, seed=8))
    info = result.info
    assert isinstance(info["t_copula_dof"], float) and info["t_copula_dof"] == pytest.approx(2.0, rel=0.3)
    assert info["t_copula_mi"] == pytest.approx(t.mutual_information, abs=0.05)
    assert info["copula_mi"] < 0.05 < info["t_copula_mi"]  # the tail dependence the Gaussian copula misses
    json.dumps(info)  # the CLI's --json reads it


def test_the_interval_is_widened_by_the_calibration_of_the_samples_cell(learned):
    calibration = learned.meta["calibration"]
    gaussian = learned.estimate(*task("3v3-normal-dense-0.5").sample(2000, seed=4)).info
    heavy = learned.estimate(*StudentTask(3, 3, dof=1.0).sample(2000, seed=4)).info
    for info in (gaussian, heavy):
        observed = {"inv_dof": 1.0 / info["t_copula_dof"], "median": info["quantiles"]["0.5"]}
        assert info["interval_scale"] == pytest.approx(scale_for(calibration, 2000, observed))
        assert info["interval_cell"] == calibration_cell(calibration, observed)
    if "cell_edges" in calibration:  # the Gaussian sample reads light-tailed, the Cauchy-like one heavy
        assert gaussian["interval_cell"] != heavy["interval_cell"]


def test_larger_for_more_dependence(learned):
    weak = learned.estimate(*task("5v5-independent").sample(500, seed=1)).value
    strong = learned.estimate(*task("5v5-normal-5pair-0.9").sample(500, seed=1)).value
    assert weak < 0.2 and strong > 2.5


def test_exactly_invariant_under_increasing_maps_of_coordinates(learned):
    x, y = task("3v3-normal-2pair").sample(400, seed=5)
    a = learned.estimate(x, y)
    b = learned.estimate(np.exp(x), np.column_stack([y[:, 0] ** 3, np.arcsinh(y[:, 1]), 2 * y[:, 2] - 7]))
    assert a.value == b.value and a.lower == b.lower and a.upper == b.upper


def test_unchanged_by_negating_y_and_close_when_negating_x(learned):
    # a correlated Student-t pair: v4, trained without random signs, read it 0.35 or 0.63 (true 0.52) by the sign
    t = StudentTask(1, 1, dof=1.0, dispersion=paired_correlation(1, 1, 1, 0.67))
    x, y = t.sample(2000, seed=4)
    a, negated_y, negated_x = learned.estimate(x, y), learned.estimate(x, -y), learned.estimate(-x, y)
    assert learned.sign_average
    assert negated_y.value == pytest.approx(a.value, abs=1e-6)
    assert (negated_y.lower, negated_y.upper) == pytest.approx((a.lower, a.upper), abs=1e-6)
    assert negated_x.value == pytest.approx(a.value, abs=NEGATED_X_TOLERANCE)
    assert a.lower <= t.mutual_information <= a.upper


def test_invariant_to_the_order_of_the_rows(learned):
    x, y = task("2v2-student-dof2").sample(300, seed=6)
    perm = np.random.default_rng(0).permutation(300)
    assert learned.estimate(x, y).value == pytest.approx(learned.estimate(x[perm], y[perm]).value, abs=1e-5)


def test_refuses_samples_outside_the_trained_bounds(learned):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"x has 6 columns.*d_x <= 5"):
        learned.estimate(rng.normal(size=(200, 6)), rng.normal(size=(200, 1)))
    with pytest.raises(ValueError, match=r"y has 7 columns.*d_y <= 5"):
        learned.estimate(rng.normal(size=(200, 1)), rng.normal(size=(200, 7)))
    with pytest.raises(ValueError, match=r"n = 50 rows.*100 <= n <= 5000"):
        learned.estimate(rng.normal(size=(50, 1)), rng.normal(size=(50, 1)))
    with pytest.raises(ValueError, match=r"n = 5001 rows.*chunks=True averages over chunks"):
        LearnedEstimator(threads=1, chunks=False).estimate(rng.normal(size=(5001, 1)), rng.normal(size=(5001, 1)))
    with pytest.raises(ValueError, match=r"x has 6 columns"):  # chunks lift the bound on n only
        learned.estimate(rng.normal(size=(6000, 6)), rng.normal(size=(6000, 1)))
    with pytest.raises(TypeError, match="chunks must be True or False"):
        LearnedEstimator(chunks="yes")
    with pytest.raises(ValueError, match="NaN"):
        learned.estimate(np.full((200, 1), np.nan), rng.normal(size=(200, 1)))
    with pytest.raises(ValueError, match="constant"):
        learned.estimate(np.ones((200, 1)), rng.normal(size=(200, 1)))


def test_a_sample_above_the_trained_n_is_the_average_of_its_disjoint_chunks(learned):
    t = task("2v2-normal-dense-0.5")
    x, y = t.sample(12_000, seed=6)
    result = learned.estimate(x, y)
    parts = np.array_split(np.random.default_rng(0).permutation(12_000), 3)  # the fewest chunks of <= 5000 rows
    alone = [learned.estimate(x[p], y[p]) for p in parts]
    assert [c["value"] for c in result.info["chunks"]] == [e.value for e in alone]
    assert result.value == pytest.approx(np.mean([e.value for e in alone]), abs=1e-12)
    assert result.lower == pytest.approx(np.mean([e.lower for e in alone]), abs=1e-12)
    assert result.upper == pytest.approx(np.mean([e.upper for e in alone]), abs=1e-12)
    assert result.lower <= t.mutual_information <= result.upper
    assert result.value == pytest.approx(t.mutual_information, abs=0.05)
    assert "averaged over 3 disjoint chunks" in result.info["interval"]
    json.dumps(result.info)
    assert estimate(x, y).info["estimator"] == "learned"  # so the default covers large samples too
    with pytest.raises(ValueError, match="at least one chunk"):
        average_of_chunks([])


def test_registered_and_reachable_through_estimate():
    x, y = task("1v1-normal-0.75").sample(500, seed=2)
    result = estimate(x, y, estimator="learned", threads=1)
    assert result.info["estimator"] == "learned" and result.info["confidence"] == 0.9
    assert result.to_bits().value == pytest.approx(result.value / np.log(2))


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LearnedEstimator(checkpoint=str(tmp_path / "none.pt"))


def test_command_line_estimate_with_the_learned_estimator(tmp_path):
    from click.testing import CliRunner

    from infomix.cli import cli
    from infomix.core import plugins
    from infomix.mi import cli as mi_cli
    from infomix.mi.learned import commands

    x, y = task("3v3-normal-2pair").sample(600, seed=5)
    path = tmp_path / "d.npy"
    np.save(path, np.c_[x, y])
    plugins.reset()
    try:
        mi_cli.register_commands(cli=cli)
        commands.register_commands(cli=cli)
        result = CliRunner().invoke(
            cli, ["mi", "estimate", str(path), "--x", "0:3", "--y", "3:6", "-e", "learned", "--json"]
        )
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["estimator"] == "learned" and out["n"] == 600 and out["confidence"] == 0.9
        assert out["lower"] <= out["value"] <= out["upper"]
        assert out["value"] == pytest.approx(LearnedEstimator().estimate(x, y).value, abs=1e-6)
        assert "ksg_check" not in out
        args = ["mi", "estimate", str(path), "--x", "0:3", "--y", "3:6", "-e", "learned", "--json"]
        checked = CliRunner().invoke(cli, [*args, "-p", "ksg_check=true"])
        assert checked.exit_code == 0, checked.output
        check = json.loads(checked.output)["ksg_check"]
        assert check["ksg_k3_nats"] > 0 and check["above_interval"] is False
        help_text = CliRunner().invoke(cli, ["mi", "train-learned", "--help"]).output
        assert "--max-minutes" in help_text and "resume" in help_text
    finally:
        plugins.reset()


def test_ksg_check_warns_on_a_spiral_and_stays_quiet_on_a_gaussian():
    import warnings

    from infomix.mi.ksg import KSGEstimator

    checked = LearnedEstimator(threads=1, ksg_check=True)
    x, y = task("3v3-spiral-2pair").sample(1000, seed=5)  # non-monotone: the network reads it as near 0
    with pytest.warns(RuntimeWarning, match="above the learned 90% interval"):
        result = checked.estimate(x, y)
    check = result.info["ksg_check"]
    assert check["above_interval"] and check["ksg_k3_nats"] > result.upper
    assert check["ksg_k3_nats"] == KSGEstimator(k=3, n_resamples=0).estimate(x, y).value
    x, y = task("3v3-normal-2pair").sample(1000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = checked.estimate(x, y)
    assert not result.info["ksg_check"]["above_interval"]
    assert "ksg_check" not in LearnedEstimator(threads=1).estimate(x, y).info
    with pytest.raises(TypeError, match="ksg_check"):
        LearnedEstimator(ksg_check="yes")


FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from infomix.mi.learned.estimator import LearnedEstimator
rng = np.random.default_rng(0)
x = rng.standard_normal((500, 5))
y = x + rng.standard_normal((500, 5))
est = LearnedEstimator(threads=1)
est.estimate(x, y)
est.estimate(x, y)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    est.estimate(x, y)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the dynamic mmap/trim thresholds are glibc's")
def test_repeated_estimates_reuse_the_heap_instead_of_faulting_it_in():
    # a fresh process, where nothing has yet raised glibc's thresholds: without settle_allocator the heap is
    # trimmed after every 5v5 estimate and ~10 MB of pages fault in again (2,000-4,000 minor faults)
    out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) < 400
