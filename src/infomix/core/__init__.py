"""The plugin registry every infomix distribution registers its components in."""

from infomix.core.errors import DuplicateComponentError, PluginLoadError, RegistryError, UnknownComponentError
from infomix.core.hookspecs import hookimpl
from infomix.core.kinds import KINDS
from infomix.core.plugins import PluginHost, get_host, get_registry
from infomix.core.registry import Component, Param, Register, Registry


def create(key: str, /, **params: object) -> object:
    """Build the component registered as ``kind:name`` with keyword parameters."""
    return get_registry().create(key, **params)


__all__ = [
    "KINDS",
    "Component",
    "DuplicateComponentError",
    "Param",
    "PluginHost",
    "PluginLoadError",
    "Register",
    "Registry",
    "RegistryError",
    "UnknownComponentError",
    "create",
    "get_host",
    "get_registry",
    "hookimpl",
]
