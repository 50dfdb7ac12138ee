"""Neural estimators, trained small: near the true MI, default settings stable in 5-D, InfoNCE ceiling, early stop."""

import math

import pytest

torch = pytest.importorskip("torch")

from infomix.core.threads import torch_threads  # noqa: E402
from infomix.mi import estimate, task  # noqa: E402
from infomix.mi.neural import (  # noqa: E402
    InfoNCEEstimator,
    JSEstimator,
    MINEEstimator,
    NWJEstimator,
    SMILEEstimator,
)

SMALL = {"hidden": (32, 32), "batch_size": 64, "max_steps": 400, "eval_every": 50, "patience": 3, "lr": 2e-3}


@pytest.fixture(autouse=True)
def few_threads():
    with torch_threads(1):
        yield


@pytest.mark.parametrize("name", ["mine", "dv", "nwj", "infonce", "smile", "js"])
def test_each_bound_learns_a_gaussian_pair(name):
    t = task("1v1-normal-0.75")
    r = estimate(*t.sample(2000, seed=1), estimator=name, **SMALL)
    assert r.value == pytest.approx(t.mutual_information, abs=0.1)
    assert r.lower < r.value < r.upper and r.info["bound"] == name


def test_default_settings_do_not_diverge_on_a_5d_gaussian():
    t = task("5v5-normal-2pair")
    r = MINEEstimator(max_steps=500).estimate(*t.sample(2000, seed=2))
    assert math.isfinite(r.value) and r.value == pytest.approx(t.mutual_information, abs=0.3)


def test_infonce_saturates_at_log_batch_size():
    t = task("5v5-normal-5pair-0.9")  # 4.15 nats, far above log 16 = 2.77
    r = InfoNCEEstimator(**{**SMALL, "batch_size": 16}).estimate(*t.sample(2000, seed=3))
    assert r.info["ceiling"] == pytest.approx(math.log(16))
    assert 1.5 < r.value <= math.log(16) + 1e-6  # learns, but cannot pass the ceiling: ≥ 1.4 nats short


def test_joint_critic_and_early_stopping_on_independent_data():
    x, y = task("5v5-independent").sample(1200, seed=4)
    r = NWJEstimator(
        critic="joint", hidden=(16,), batch_size=32, lr=1e-2, max_steps=1000, eval_every=20, patience=2
    ).estimate(x[:, :2], y[:, :2])
    assert r.info["steps"] < 1000 and abs(r.value) < 0.1


def test_separable_and_joint_agree_roughly():
    t = task("1v1-normal-0.75")
    x, y = t.sample(1500, seed=5)
    sep = SMILEEstimator(**SMALL).estimate(x, y).value
    joint = JSEstimator(**{**SMALL, "critic": "joint", "batch_size": 32}).estimate(x, y).value
    assert sep == pytest.approx(joint, abs=0.12)


def test_bad_input():
    with pytest.raises(ValueError, match="critic must be"):
        MINEEstimator(critic="bilinear")
    with pytest.raises(ValueError, match="too small for batch_size=128"):
        MINEEstimator().estimate(*task("1v1-normal-0.75").sample(200, seed=0))
    with pytest.raises(ValueError, match="valid_fraction"):
        MINEEstimator(valid_fraction=1.0)


@pytest.mark.cuda
def test_trains_on_cuda_like_on_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    t = task("1v1-normal-0.75")
    x, y = t.sample(2000, seed=6)
    gpu = InfoNCEEstimator(**SMALL, device="cuda").estimate(x, y)
    cpu = InfoNCEEstimator(**SMALL).estimate(x, y)
    assert gpu.value == pytest.approx(t.mutual_information, abs=0.1)
    assert gpu.value == pytest.approx(cpu.value, abs=0.08)


def test_progress_bar_reports_held_out_value(monkeypatch):
    from infomix.mi import neural

    seen = []
    original = neural._Bar.update
    monkeypatch.setattr(
        neural._Bar, "update", lambda self, step, value: (seen.append((step, value)), original(self, step, value))
    )
    x, y = task("1v1-normal-0.75").sample(600, seed=7)
    r = MINEEstimator(**{**SMALL, "max_steps": 100, "eval_every": 25}, progress=True).estimate(x, y)
    assert [s for s, _ in seen] == list(range(25, r.info["steps"] + 1, 25))
    assert all(math.isfinite(v) for _, v in seen)


def test_copula_margins_make_training_invariant_to_increasing_maps_and_tame_heavy_tails():
    x, y = task("2v2-student-dof1").sample(1500, seed=8)  # Cauchy-tailed margins
    est = NWJEstimator(**SMALL)
    base = est.estimate(x, y)
    assert est.estimate(x**3, y + y**3).value == base.value  # ranks, hence training data, unchanged
    assert 0.0 < base.value < 0.8  # true 0.43; with standardised margins e^T of outliers can dominate
    with pytest.raises(ValueError, match="margins"):
        NWJEstimator(margins="ranks")
