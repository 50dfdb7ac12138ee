"""Errors raised by the registry, with close-match suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean: a, b?)' for close matches of `name`, or ''."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""


class RegistryError(Exception):
    """Base class of registry errors."""


class UnknownComponentError(RegistryError, KeyError):
    """No component is registered under the requested kind:name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateComponentError(RegistryError):
    """Two providers registered the same kind:name."""


class PluginLoadError(RegistryError):
    """A plugin failed to load while INFOMIX_STRICT_PLUGINS is set."""
