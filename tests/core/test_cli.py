"""The `infomix` command: list, info, plugins, doctor, --json, suggestions, broken plugins."""

import json
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

from infomix.cli import cli
from infomix.core import plugins


@pytest.fixture
def invoke():
    plugins.reset()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, list(args))
    plugins.reset()


def test_list_and_json(invoke):
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    keys = {c["key"] for c in json.loads(result.output)}
    assert {"mi.estimator:gaussian", "moe.router:topk", "ops.backend:reference"} <= keys
    only = json.loads(invoke("list", "mi.estimator", "--json").output)
    assert only and all(c["key"].startswith("mi.estimator:") for c in only)
    assert "mi.estimator:gaussian" in invoke("list").output


def test_info_shows_doc_params_and_distribution(invoke):
    data = json.loads(invoke("info", "mi.estimator:gaussian", "--json").output)
    assert data["distribution"] == "infomix-mi" and data["version"]
    params = {p["name"]: p for p in data["params"]}
    assert params["n_bootstrap"]["default"] == 200 and params["n_bootstrap"]["type"] == "int"
    assert "Wishart" in data["doc"]
    text = invoke("info", "mi.estimator:gaussian").output
    assert "n_bootstrap" in text and "infomix-mi" in text


def test_unknown_names_fail_with_suggestions(invoke):
    result = invoke("info", "mi.estimator:gausian")
    assert result.exit_code != 0
    assert "did you mean: gaussian?" in result.output
    result = invoke("list", "moe.ruoter")
    assert result.exit_code != 0 and "moe.router" in result.output


def test_plugins_and_doctor(invoke):
    records = json.loads(invoke("plugins", "--json").output)
    mi = [r for r in records if r["distribution"] == "infomix-mi"]
    assert mi and all(r["status"] == "loaded" for r in mi)
    report = json.loads(invoke("doctor", "--json").output)
    assert report["torch"] and "cpu_kernels" in report["build"] and "available" in report["cuda"]
    assert report["distributions"]["infomix"]
    assert "compiled kernels loaded" in invoke("doctor").output


def test_broken_plugin_does_not_break_list(invoke, tmp_path, monkeypatch):
    (tmp_path / "exploding_plugin.py").write_text("raise RuntimeError('exploded on import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = plugins.entry_points
    broken = EntryPoint(name="exploding", value="exploding_plugin", group="infomix")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [*real(group=group), broken])
    monkeypatch.delenv("INFOMIX_STRICT_PLUGINS", raising=False)
    result = invoke("list", "--json")
    assert result.exit_code == 0
    assert "mi.estimator:gaussian" in result.output
    assert "1 plugin(s) failed" not in result.output  # JSON output stays clean
    failed = [r for r in json.loads(invoke("plugins", "--json").output) if r["status"] == "failed"]
    assert [(r["name"], "exploded on import" in r["error"]) for r in failed] == [("exploding", True)]
    assert "failed to load: exploding" in CliRunner().invoke(cli, ["list"]).output


def test_console_script_runs_with_plugin_commands(tmp_path):
    script = textwrap.dedent("""
        import sys
        from infomix.cli import main
        sys.argv = ["infomix", "--help"]
        main()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("list", "info", "plugins", "doctor", "kinds"):
        assert command in out.stdout
