"""`infomix mi estimate | estimators | tasks`: CSV, NPY, NPZ and Parquet input, --json, clear errors."""

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from infomix.cli import cli
from infomix.core import plugins
from infomix.mi import cli as mi_cli
from infomix.mi import task


@pytest.fixture
def invoke():
    plugins.reset()
    mi_cli.register_commands(cli=cli)
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, ["mi", *map(str, args)])
    plugins.reset()


@pytest.fixture
def data():
    x, y = task("3v3-normal-2pair").sample(600, seed=5)
    return x, y


def write_csv(path, x, y):
    header = "a,b,c,d,e,f"
    np.savetxt(path, np.c_[x, y], delimiter=",", header=header, comments="")
    return path


def test_csv_json_has_the_required_fields(invoke, data, tmp_path):
    x, y = data
    path = write_csv(tmp_path / "d.csv", x, y)
    result = invoke("estimate", path, "--x", "a,b,c", "--y", "d,e,f", "--estimator", "gaussian", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"value", "lower", "upper", "estimator", "n", "seconds"} <= set(out)
    assert out["estimator"] == "gaussian" and out["n"] == 600 and out["seconds"] >= 0
    from infomix.mi import GaussianEstimator

    assert out["value"] == pytest.approx(GaussianEstimator().estimate(x, y).value, rel=1e-9)
    assert out["lower"] <= out["value"] <= out["upper"]


def test_npy_npz_and_default_estimator(invoke, data, tmp_path):
    x, y = data
    np.save(tmp_path / "d.npy", np.c_[x, y])
    np.savez(tmp_path / "d.npz", left=x, right=y)
    np.savez(tmp_path / "one.npz", table=np.c_[x, y])
    a = json.loads(invoke("estimate", tmp_path / "d.npy", "--x", "0:3", "--y", "3:6", "--json").output)
    b = json.loads(invoke("estimate", tmp_path / "d.npz", "--x", "left", "--y", "right", "--json").output)
    c = json.loads(invoke("estimate", tmp_path / "one.npz", "--x", "0,1,2", "--y", "3,4,5", "--json").output)
    assert a["estimator"] == "learned" and a["value"] == b["value"] == c["value"]


def test_no_interval_is_null_and_params_and_bits_pass_through(invoke, data, tmp_path):
    path = write_csv(tmp_path / "d.csv", *data)
    out = json.loads(
        invoke(
            "estimate",
            path,
            "--x",
            "a",
            "--y",
            "d",
            "-e",
            "ksg",
            "-p",
            "n_resamples=0",
            "-p",
            "k=5",
            "--bits",
            "--json",
        ).output
    )
    assert out["lower"] is None and out["upper"] is None and out["unit"] == "bits"
    text = invoke("estimate", path, "--x", "a", "--y", "d", "-e", "histogram").output
    assert "I(x; y) =" in text and "histogram" in text


def test_parquet_when_pyarrow_is_installed(invoke, data, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    x, y = data
    pq.write_table(pa.table({"u": x[:, 0], "v": y[:, 0], "w": y[:, 1]}), tmp_path / "d.parquet")
    out = json.loads(
        invoke("estimate", tmp_path / "d.parquet", "--x", "u", "--y", "v,w", "-e", "gaussian", "--json").output
    )
    from infomix.mi import GaussianEstimator

    assert out["value"] == pytest.approx(GaussianEstimator().estimate(x[:, 0], y[:, :2]).value, rel=1e-9)


def test_parquet_without_pyarrow_says_what_to_install(invoke, tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke("estimate", tmp_path / "d.parquet", "--x", "u", "--y", "v")
    assert result.exit_code != 0 and "needs pyarrow" in result.output and "infomix-mi[parquet]" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--x", "a", "--y", "zz"], "--y: no column 'zz'"),
        (["--x", "aa", "--y", "d"], "did you mean: a"),
        (["--x", "a", "--y", "d", "-e", "kgs"], "did you mean: ksg"),
        (["--x", "a", "--y", "d", "-p", "k"], "KEY=VALUE"),
        (["--x", "a", "--y", "d", "-e", "ksg", "-p", "k=0"], "k must be a positive integer"),
    ],
)
def test_errors_name_the_argument(invoke, data, tmp_path, args, message):
    path = write_csv(tmp_path / "d.csv", *data)
    result = invoke("estimate", path, *args)
    assert result.exit_code != 0 and message in result.output


def test_bad_files(invoke, tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,x\n")
    assert "'x' is not a number" in invoke("estimate", tmp_path / "d.csv", "--x", "a", "--y", "b").output
    (tmp_path / "n.csv").write_text("a,b\n1,2\n3,\n4,5\n5,1\n")
    assert "y contains NaN" in invoke("estimate", tmp_path / "n.csv", "--x", "a", "--y", "b", "-e", "gaussian").output
    (tmp_path / "d.txt").write_text("a")
    assert "unsupported file type '.txt'" in invoke("estimate", tmp_path / "d.txt", "--x", "a", "--y", "b").output
    assert "no such file" in invoke("estimate", tmp_path / "none.csv", "--x", "a", "--y", "b").output


def test_estimators_and_tasks_listings(invoke):
    listed = json.loads(invoke("estimators", "--json").output)
    names = {e["name"] for e in listed}
    assert {"gaussian", "copula", "histogram", "ksg", "ksg2", "discrete", "discrete-continuous"} <= names
    assert [e["name"] for e in listed if e["default"]] == ["learned"]
    text = invoke("estimators").output
    assert len([line for line in text.splitlines() if line.strip()]) == len(listed) + 1
    tasks = {t["name"]: t for t in json.loads(invoke("tasks", "--json").output)}
    assert tasks["1v1-normal-0.75"]["mutual_information"] == pytest.approx(0.41334, abs=1e-5)
    assert "5v5-student-dof3" in invoke("tasks").output


def test_main_adds_the_mi_group_through_the_hook():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "infomix.cli", "mi", "estimators"], capture_output=True, text=True)
    assert out.returncode == 0 and "ksg" in out.stdout
