"""Meta-training: schedule, resume equals an uninterrupted run, export round trip, the train-learned command."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from infomix.core.threads import torch_threads
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
