"""Plugin loading: one entry point at a time, broken plugins reported, strict mode, env switches."""

import textwrap
from importlib.metadata import EntryPoint

import pytest

from infomix.core import PluginHost, PluginLoadError
from infomix.core.testing import check_component
from infomix.data.errors import MissingDependency, NotFetched

GOOD = '''
from infomix.core import hookimpl

class Thing:
    """A thing."""

@hookimpl
def register_components(register):
    register("moe.router", "{name}", Thing)
'''

BROKEN_HOOK = """
from infomix.core import hookimpl

@hookimpl
def register_components(register):
    register("moe.router", "half", dict, summary="registered before the failure")
    raise RuntimeError("boom")
"""


@pytest.fixture
def plugin_modules(tmp_path, monkeypatch):
    """Write plugin modules into a temp dir on sys.path; return a maker of entry points to them."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(module: str, source: str) -> EntryPoint:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        return EntryPoint(name=module, value=module, group="infomix")

    return make


def test_broken_plugin_is_reported_and_the_rest_load(plugin_modules, monkeypatch):
    monkeypatch.delenv("INFOMIX_STRICT_PLUGINS", raising=False)
    eps = [
        plugin_modules("good_one", GOOD.format(name="one")),
        plugin_modules("broken_import", "import no_such_module_anywhere\n"),
        plugin_modules("broken_hook", BROKEN_HOOK),
        plugin_modules("good_two", GOOD.format(name="two")),
    ]  # fmt: skip
    host = PluginHost()
    host.load_entry_points(eps=eps)
    keys = [c.key for c in host.registry]
    assert keys == ["moe.router:one", "moe.router:two"]  # the failing hook's partial registration is rolled back
    failed = {r.name: r.error for r in host.failed()}
    assert set(failed) == {"broken_import", "broken_hook"}
    assert "no_such_module_anywhere" in failed["broken_import"]
    assert "RuntimeError: boom" in failed["broken_hook"]
    assert host.records["good_one"].components == ["moe.router:one"]


def test_strict_mode_raises(plugin_modules, monkeypatch):
    monkeypatch.setenv("INFOMIX_STRICT_PLUGINS", "1")
    ep = plugin_modules("broken_strict", "raise ImportError('cannot load me')\n")
    with pytest.raises(PluginLoadError, match=r"broken_strict.*cannot load me"):
        PluginHost().load_entry_points(eps=[ep])


def test_duplicate_across_plugins_names_both(plugin_modules, monkeypatch):
    eps = [
        plugin_modules("first_dup", GOOD.format(name="same")),
        plugin_modules("second_dup", GOOD.format(name="same")),
    ]
    monkeypatch.delenv("INFOMIX_STRICT_PLUGINS", raising=False)
    host = PluginHost()
    host.load_entry_points(eps=eps)
    assert [c.key for c in host.registry] == ["moe.router:same"]
    (record,) = host.failed()
    assert "'first_dup'" in record.error and "'second_dup'" in record.error
    monkeypatch.setenv("INFOMIX_STRICT_PLUGINS", "1")
    strict = PluginHost()
    strict.load_entry_points(eps=eps)
    with pytest.raises(PluginLoadError, match="registered twice"):
        strict.registry  # noqa: B018


def test_load_and_disable_switches(plugin_modules, monkeypatch):
    eps = [plugin_modules(f"p_{n}", GOOD.format(name=n)) for n in ("a", "b", "c")]
    monkeypatch.setenv("INFOMIX_LOAD_PLUGINS", "p_a,p_c")
    monkeypatch.setenv("INFOMIX_DISABLE_PLUGINS", "p_c")
    host = PluginHost()
    host.load_entry_points(eps=eps)
    assert [c.key for c in host.registry] == ["moe.router:a"]
    assert host.records["p_b"].status == "disabled" and "INFOMIX_LOAD_PLUGINS" in host.records["p_b"].error
    assert host.records["p_c"].status == "disabled" and "INFOMIX_DISABLE_PLUGINS" in host.records["p_c"].error
    monkeypatch.setenv("INFOMIX_LOAD_PLUGINS", "")
    monkeypatch.delenv("INFOMIX_DISABLE_PLUGINS")
    none = PluginHost()
    none.load_entry_points(eps=eps)
    assert len(none.registry) == 0


def test_plugin_with_unknown_hook_is_rejected():
    class Bad:
        from infomix.core import hookimpl

        @hookimpl
        def register_componentz(self, register):  # a typo: no such hookspec
            pass

    host = PluginHost()
    record = host.add_plugin(Bad(), "typo")
    assert record.status == "failed" and "register_componentz" in record.error


def test_installed_components_conform(infomix_registry):
    assert len(infomix_registry) > 0
    unavailable = {}
    for component in infomix_registry:
        try:
            check_component(component)
        except (NotFetched, MissingDependency) as exc:  # defaults that need a model or library not on this machine
            unavailable[component.key] = str(exc)
    assert len(unavailable) < len(infomix_registry) / 10, f"too many components could not be built: {unavailable}"
    for key, message in unavailable.items():  # each says how to get what it lacks
        assert "pip install" in message or "infomix data fetch" in message, f"{key}: {message}"
