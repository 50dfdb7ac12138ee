"""`infomix mi calibrate-learned`: refits a checkpoint's calibration in place, with the cells asked for."""

import json
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner

from infomix.core.threads import torch_threads
from infomix.mi.learned.calibration import CELL_EDGES
from infomix.mi.learned.commands import calibrate_learned_command
from infomix.mi.learned.training import Trainer

from .test_training import TINY


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = replace(TINY, model=replace(TINY.model, t_statistics=True))
    path = tmp_path_factory.mktemp("calibrate") / "estimator.pt"
    with torch_threads(1):
        Trainer(config).export(path)
    return path


def _record(path):
    return torch.load(path, map_location="cpu", weights_only=True)["calibration"]


def test_calibrate_learned_writes_the_record_with_the_default_or_given_cells(checkpoint):
    runner = CliRunner()
    default = runner.invoke(calibrate_learned_command, [str(checkpoint), "--batches", "2"])
    assert default.exit_code == 0, default.output
    record = _record(checkpoint)
    assert json.loads(default.output)["tasks"] == record["tasks"] and record["batches_per_n"] == 2
    assert record["cell_edges"] == {k: list(v) for k, v in CELL_EDGES.items()}
    given = runner.invoke(
        calibrate_learned_command, [str(checkpoint), "--batches", "2", "--cell-edges", '{"median": [1]}']
    )
    assert given.exit_code == 0, given.output
    record = _record(checkpoint)
    assert record["cell_edges"] == {"median": [1.0]} and all(len(p["cells"]) == 2 for p in record["by_n"])
    none = runner.invoke(calibrate_learned_command, [str(checkpoint), "--batches", "2", "--cell-edges", "none"])
    assert none.exit_code == 0, none.output
    assert "cell_edges" not in _record(checkpoint)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{median: [1]}", "Expecting property name"),
        ('{"median": 1}', "expected a JSON object of lists"),
        ('{"median": [2, 1]}', "strictly increasing"),
        ('{"dof": [1]}', "may only bin"),
    ],
)
def test_calibrate_learned_refuses_bad_cell_edges_before_drawing(checkpoint, text, message):
    before = checkpoint.read_bytes()
    result = CliRunner().invoke(calibrate_learned_command, [str(checkpoint), "--cell-edges", text])
    assert result.exit_code == 2 and "--cell-edges" in result.output and message in result.output
    assert checkpoint.read_bytes() == before
