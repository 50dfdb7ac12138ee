"""pytest fixtures for plugin authors: an isolated plugin host and the installed registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infomix.core import plugins
from infomix.core.plugins import PluginHost
from infomix.core.registry import Registry


@pytest.fixture
def infomix_host() -> PluginHost:
    """An empty plugin host: `infomix_host.add_plugin(module, "name")`, then `infomix_host.registry`."""
    return PluginHost()


@pytest.fixture
def infomix_registry() -> Iterator[Registry]:
    """The registry of every installed plugin, discovered afresh for this test."""
    plugins.reset()
    yield plugins.get_registry()
    plugins.reset()
