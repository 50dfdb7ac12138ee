"""`infomix mi infomax`: a short run writes history.json, history.csv and the plot; bad options are clear."""

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner

from infomix.cli import cli
from infomix.core import plugins
from infomix.mi import cli as mi_cli


@pytest.fixture
def invoke():
    plugins.reset()
    mi_cli.register_commands(cli=cli)
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, ["mi", "infomax", *map(str, args)])
    plugins.reset()


def test_infomax_command_writes_history_and_plot(invoke, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "--data", "digits", "--encoder", "mlp", "-E", "hidden=[32]", "-E", "out_dim=16", "--critic", "separable",
        "-C", "embed_dim=8", "--steps", "20", "--eval-every", "10", "--lr", "1e-3", "--threads", "1", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "probe accuracy" in result.output
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [0, 10, 20] and history["config"]["critic"] == "separable"
    assert history["config"]["encoder_params"] == {"hidden": [32], "out_dim": 16}
    rows = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [0, 10, 20]
    assert 0 < float(rows[-1]["probe_accuracy"]) <= 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_infomax_command_reads_a_config_file(invoke, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"encoder": "identity", "critic": "concat", "critic_params": {"hidden": [8]},
                                  "steps": 5, "eval_every": 5, "batch_size": 32}))  # fmt: skip
    result = invoke("--data", "gaussian-noniid", "--config", config, "--out", tmp_path / "g")
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "g" / "history.json").read_text())
    assert history["true_mi"] == pytest.approx(0.0204, abs=1e-4) and history["step"] == [0, 5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "mine"], "objective must be one of"),
        (["--critic", "cosine"], "unknown critic 'cosine'"),
        (["--data", "cifar"], "unknown view data 'cifar'"),
        (["-E", "noequals"], "expected KEY=VALUE"),
    ],
)
def test_infomax_command_bad_options(invoke, tmp_path, args, message):
    result = invoke("--steps", "1", "--out", tmp_path / "x", *args)
    assert result.exit_code != 0
    assert message in result.output
