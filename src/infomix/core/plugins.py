"""Discover plugins through entry points (group `infomix`), one at a time, and build the registry."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from infomix.core import hookspecs
from infomix.core.errors import PluginLoadError
from infomix.core.registry import Register, Registry

GROUP = "infomix"
STRICT_ENV = "INFOMIX_STRICT_PLUGINS"
LOAD_ENV = "INFOMIX_LOAD_PLUGINS"
DISABLE_ENV = "INFOMIX_DISABLE_PLUGINS"


@dataclass
class PluginRecord:
    """What happened to one plugin: loaded, failed (with the error), or disabled."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginHost:
    """A pluggy manager plus the records of every plugin it tried to load."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._registry: Registry | None = None

    # -- loading -------------------------------------------------------------------------------
    def load_entry_points(self, group: str = GROUP, eps: list[EntryPoint] | None = None) -> None:
        """Load each entry point of `group` inside its own try/except, honouring the env switches."""
        only = _env_names(LOAD_ENV)
        blocked = _env_names(DISABLE_ENV) or set()
        for ep in eps if eps is not None else sorted(entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.metadata["Name"] if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            names = {ep.name, dist} - {None}
            if names & blocked or (only is not None and not names & only):
                why = DISABLE_ENV if names & blocked else LOAD_ENV
                self.records[ep.name] = PluginRecord(ep.name, ep.value, dist, version, "disabled", f"excluded by {why}")
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(PluginRecord(ep.name, ep.value, dist, version), exc)
                continue
            self.add_plugin(plugin, ep.name, distribution=dist, version=version, module=ep.value)

    def add_plugin(
        self,
        plugin: ModuleType | object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
        module: str | None = None,
    ) -> PluginRecord:
        """Register a plugin object or module directly (tests and in-process plugins use this)."""
        module = module or str(getattr(plugin, "__name__", type(plugin).__name__))
        record = PluginRecord(name, module, distribution, version)
        if name in self.records and self.records[name].status == "loaded":
            raise PluginLoadError(f"a plugin named {name!r} is already loaded ({self.records[name].module})")
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(record, exc)
            return record
        record.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self.records[name] = record
        self._registry = None
        return record

    def _fail(self, record: PluginRecord, exc: BaseException) -> None:
        record.status = "failed"
        record.error = _short_error(exc)
        self.records[record.name] = record
        if _strict():
            raise PluginLoadError(f"plugin {record.name!r} ({record.module}) failed: {record.error}") from exc

    # -- the registry --------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        for impl in self.pm.hook.register_components.get_hookimpls():  # registration order
            record = self.records.get(impl.plugin_name) or PluginRecord(impl.plugin_name, impl.plugin_name)
            if record.status != "loaded":
                continue
            register = Register(registry, record.name, record.distribution, record.version)
            before = {c.key for c in registry}
            try:
                impl.function(register=register)
            except Exception as exc:
                # Roll back what this plugin registered, then report it like an import failure.
                for key in {c.key for c in registry} - before:
                    registry._components.pop(key)
                self.pm.unregister(name=impl.plugin_name)
                self._fail(record, exc)
                continue
            record.components = sorted({c.key for c in registry} - before)
        return registry

    def failed(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "failed"]


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loading entry points on first use."""
    global _host
    if _host is None:
        host = PluginHost()
        host.load_entry_points()
        _host = host
    return _host


def get_registry() -> Registry:
    """The process-wide registry of every loaded plugin's components."""
    return get_host().registry


def reset() -> None:
    """Forget loaded plugins, so the next `get_host()` discovers them again (tests use this)."""
    global _host
    _host = None
