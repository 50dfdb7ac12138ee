"""The hooks a plugin implements: one per concern, each receiving a typed registration object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from infomix.core.registry import Register

PROJECT = "infomix"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_components(register: Register) -> None:
    """Register named components.

    Call ``register(kind, name, factory, summary=..., params=...)`` once per component. ``kind``
    is one of :data:`infomix.core.kinds.KINDS`; ``factory`` is a class or function building the
    component from keyword parameters. ``params`` defaults to the factory's signature.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``infomix`` command line (``cli`` is its click group)."""


HOOKS: dict[str, Any] = {
    "register_components": register_components,
    "register_commands": register_commands,
}
