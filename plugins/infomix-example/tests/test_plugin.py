"""Tests a plugin author writes: conformance, hand-computed values, and registration through a host."""

import json

import pytest
from click.testing import CliRunner
from infomix_example import plugin
from infomix_example.plugin import RPrecision

from infomix.core.testing import check_component, check_ranking_metric


def test_r_precision_by_hand():
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}, "p": {"x": 1.0, "y": 1.0}}
    qrels = {"q": {"a": 1, "c": 2, "x": 1}, "p": {"x": 1}, "none": {"a": 0}}
    scores = RPrecision()(run, qrels)
    assert scores["q"] == pytest.approx(2 / 3)  # R = 3: a, b, c retrieved; a and c relevant
    assert scores["p"] == 0.0  # tie between x and y: y ranks first (decreasing doc id)
    assert scores["none"] == 0.0
    assert RPrecision(min_grade=2)(run, qrels)["q"] == 0.0  # R = 1: only c; top-1 is a


def test_conformance_as_a_ranking_metric():
    check_ranking_metric(RPrecision())


def test_registers_through_an_isolated_host(infomix_host):
    infomix_host.add_plugin(plugin, "example")
    component = infomix_host.registry.get("retrieval.metric:rprecision")
    check_component(component)
    assert component.create(min_grade=2).min_grade == 2


def test_command(tmp_path, infomix_host):
    import click

    group = click.Group()
    plugin.register_commands(cli=group)
    (tmp_path / "run.json").write_text(json.dumps({"q": {"a": 1.0, "b": 0.5}}))
    (tmp_path / "qrels.json").write_text(json.dumps({"q": {"a": 1}}))
    result = CliRunner().invoke(group, ["example-rprec", str(tmp_path / "run.json"), str(tmp_path / "qrels.json")])
    assert result.exit_code == 0, result.output
    assert "R-precision = 1.0000 over 1 queries" in result.output


def test_bad_min_grade():
    with pytest.raises(ValueError, match="min_grade must be"):
        RPrecision(min_grade=0)
