"""Meta-training: schedule, resume equals an uninterrupted run, export round trip, the train-learned command."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from infomix.core.threads import torch_threads
from infomix.mi.learned.calibration import calibrate, conformal_scale, scale_for
from infomix.mi.learned.estimator import LearnedEstimator, load_network
from infomix.mi.learned.metadata import MetaDataConfig
from infomix.mi.learned.model import ModelConfig
from infomix.mi.learned.training import TrainConfig, Trainer, learning_rate

TINY = TrainConfig(
    model=ModelConfig(
        token_width=8,
        width=16,
        heads=2,
        dim_blocks=1,
        sample_blocks=1,
        inducing=4,
        pool_seeds=2,
        max_dim_x=3,
        max_dim_y=3,
        min_n=100,
        max_n=200,
    ),
    data=MetaDataConfig(max_dim=3, min_n=100, max_n=200, rows_per_batch=400, max_batch=3),
    steps=6,
    warmup=2,
    eval_every=3,
    eval_batches=2,
    checkpoint_every=2,
    calibration_batches=2,
    threads=1,
)


def test_learning_rate_schedule():
    config = TrainConfig(steps=100, warmup=10, lr=1e-3, final_lr_fraction=0.1)
    assert learning_rate(config, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 9) == pytest.approx(1e-3)
    assert learning_rate(config, 100) == pytest.approx(1e-4)
    assert learning_rate(config, 55) == pytest.approx(0.55e-3)  # half way through the cosine


def test_resume_equals_uninterrupted_training(tmp_path):
    with torch_threads(1):
        straight = Trainer(TINY)
        straight.run(steps=5, progress=False)
        first = Trainer(TINY)
        first.run(checkpoint=tmp_path / "ckpt.pt", steps=2, progress=False)
        resumed = Trainer.load(tmp_path / "ckpt.pt")
        assert resumed.step == 2
        resumed.run(steps=5, progress=False)
    assert resumed.history["loss"] == straight.history["loss"]
    for name in ("model", "ema"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    assert straight.history["loss"][0] != straight.history["loss"][-1]


def test_error_scale_weighting_trains_and_validates_with_weighted_losses():
    weighted = TrainConfig.from_dict({**TINY.to_dict(), "loss_weighting": "error-scale"})
    with torch_threads(1):
        a, b = Trainer(TINY), Trainer(weighted)  # the same initial weights
        (loss_a, mae_a), (loss_b, mae_b) = a.validate(), b.validate()
        assert loss_a != loss_b and mae_a == mae_b  # the same predictions, another loss
        assert a.train_step() != b.train_step()
    with pytest.raises(ValueError, match="loss_weighting must be one of none, error-scale"):
        TrainConfig(loss_weighting="inverse")


def test_resume_refuses_another_data_generator(tmp_path):
    trainer = Trainer(TINY)
    trainer.data_hash = "0" * 64
    trainer.save(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="data generator"):
        Trainer.load(tmp_path / "ckpt.pt")


def test_export_round_trip(tmp_path):
    with torch_threads(1):
        trainer = Trainer(TINY)
        trainer.run(steps=3, progress=False)
        trainer.export(tmp_path / "est.pt", use_best=False)
        network, meta = load_network(str(tmp_path / "est.pt"))
        assert meta["data_hash"] == trainer.data_hash and meta["trained_steps"] == 3
        x = torch.randn(1, 120, 2)
        y = x[:, :, :1] + torch.randn(1, 120, 1)
        cop = torch.tensor([0.3])
        torch.testing.assert_close(network(x, y, cop), trainer.ema.eval()(x, y, cop))


def test_conformal_scale_hand_case():
    median = np.zeros(9)
    truth = np.array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9])
    # half-widths 1 on both sides: the scores are |truth|; ⌈10·0.8⌉ = 8th smallest = 0.8
    assert conformal_scale(median, median - 1, median + 1, truth, 0.8) == pytest.approx(0.8)
    # half-widths 2 below, 0.5 above: scores |t|/2 for t < 0 and 2t for t > 0
    scores = np.sort(np.where(truth < 0, -truth / 2, 2 * truth))
    assert conformal_scale(median, median - 2, median + 0.5, truth, 0.8) == pytest.approx(scores[7])


def test_train_learned_command_resumes_and_writes_a_loadable_estimator(tmp_path):
    from infomix.mi.learned.commands import train_learned_command

    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY.to_dict(), "steps": 2}))
    out = tmp_path / "run"
    runner = CliRunner()
    first = runner.invoke(train_learned_command, ["--out", str(out), "--config", str(config), "--no-progress"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(train_learned_command, ["--out", str(out), "--steps", "3", "--no-progress"])
    assert second.exit_code == 0, second.output
    assert "resuming" in second.output
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] == 3 and len(record["validation"]) >= 1
    estimator = LearnedEstimator(checkpoint=str(out / "estimator.pt"))
    assert estimator.meta["calibration"]["scale"] > 0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 2))
    result = estimator.estimate(x, x[:, :1] + rng.normal(size=(150, 1)))
    assert result.lower <= result.value <= result.upper
    bad = runner.invoke(train_learned_command, ["--out", str(out), "--config", str(config)])
    assert bad.exit_code != 0 and "cannot change a run being resumed" in bad.output


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


def test_init_starts_from_an_estimator_checkpoint_and_records_it(tmp_path):
    with torch_threads(1):
        first = Trainer(TINY)
        first.run(steps=2, progress=False)
        first.export(tmp_path / "first.pt")
        second = Trainer(TrainConfig.from_dict({**TINY.to_dict(), "init": str(tmp_path / "first.pt"), "seed": 5}))
    exported = torch.load(tmp_path / "first.pt", weights_only=True)["state_dict"]
    for k, v in second.model.state_dict().items():
        torch.testing.assert_close(v.float(), exported[k])
    assert second.init_record["data_hash"] == first.data_hash and second.init_record["trained_steps"] == 2
    wider = {**TINY.to_dict(), "init": str(tmp_path / "first.pt")}
    wider["model"] = {**wider["model"], "width": 32}
    with pytest.raises(ValueError, match="model config"):
        Trainer(TrainConfig.from_dict(wider))
    with pytest.raises(FileNotFoundError, match="init checkpoint"):
        Trainer(TrainConfig.from_dict({**TINY.to_dict(), "init": str(tmp_path / "missing.pt")}))


def test_init_may_add_the_t_statistics_inputs_but_not_drop_them(tmp_path):
    with torch_threads(1):
        Trainer(TINY).export(tmp_path / "plain.pt")
        gaining = {**TINY.to_dict(), "init": str(tmp_path / "plain.pt")}
        gaining["model"] = {**gaining["model"], "t_statistics": True}
        trainer = Trainer(TrainConfig.from_dict(gaining))
        assert float(trainer.model.t_gate.detach()) == 0.0 and trainer.model.t_input.weight.abs().max() == 0.0
        trainer.run(steps=2, progress=False)  # trains with the t-copula inputs
        assert trainer.model.t_input.weight.abs().max() > 0.0
        trainer.export(tmp_path / "with_t.pt")
        with pytest.raises(ValueError, match="only t_statistics and width_scaling may be added"):
            Trainer(TrainConfig.from_dict({**TINY.to_dict(), "init": str(tmp_path / "with_t.pt")}))
