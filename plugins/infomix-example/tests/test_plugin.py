"""Tests a plugin author writes: conformance, hand-computed values, and registration through a host."""

import json

import pytest
from click.testing import CliRunner
from infomix_example import plugin
from infomix_example.plugin import PrecisionAtK

from infomix.core.testing import check_component, check_ranking_metric


def test_precision_by_hand():
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"a": 1, "c": 2, "x": 1}}
    assert PrecisionAtK(k=2)(run, qrels)["q"] == pytest.approx(0.5)
    assert PrecisionAtK(k=3)(run, qrels)["q"] == pytest.approx(2 / 3)
    assert PrecisionAtK(k=5)(run, qrels)["q"] == pytest.approx(2 / 5)


def test_conformance_as_a_ranking_metric():
    check_ranking_metric(PrecisionAtK(k=1))


def test_registers_through_an_isolated_host(infomix_host):
    infomix_host.add_plugin(plugin, "example")
    component = infomix_host.registry.get("retrieval.metric:precision")
    check_component(component)
    assert component.create(k=3).k == 3


def test_command(tmp_path, infomix_host):
    import click

    group = click.Group()
    plugin.register_commands(cli=group)
    (tmp_path / "run.json").write_text(json.dumps({"q": {"a": 1.0, "b": 0.5}}))
    (tmp_path / "qrels.json").write_text(json.dumps({"q": {"a": 1}}))
    result = CliRunner().invoke(
        group, ["example-precision", str(tmp_path / "run.json"), str(tmp_path / "qrels.json"), "-k", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "P@2 = 0.5000 over 1 queries" in result.output


def test_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        PrecisionAtK(k=0)
