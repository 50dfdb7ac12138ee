"""Named components (`kind:name`) and the typed `register` callable plugins receive."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infomix.core.errors import DuplicateComponentError, UnknownComponentError, suggest
from infomix.core.kinds import KINDS, check_kind


class _Required:
    """Marks a parameter without a default."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter of a component's factory."""

    name: str
    type: str = "Any"
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def to_dict(self) -> dict[str, Any]:
        default = None if self.required else self.default
        if not isinstance(default, (str, int, float, bool, type(None), list, tuple)):
            default = repr(default)
        return {"name": self.name, "type": self.type, "required": self.required, "default": default, "doc": self.doc}


def params_from_signature(factory: Callable[..., Any]) -> tuple[Param, ...]:
    """Read a factory's keyword parameters, their annotations and defaults."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return ()
    params = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        annotation = p.annotation
        if annotation is inspect.Parameter.empty:
            type_name = "Any"
        elif isinstance(annotation, str):
            type_name = annotation
        else:
            type_name = getattr(annotation, "__name__", repr(annotation))
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        params.append(Param(p.name, type_name, default))
    return tuple(params)


@dataclass(frozen=True)
class Component:
    """A registered, named factory of some kind, and who provided it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = ()
    provider: str = "<unknown>"
    distribution: str | None = None
    version: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.factory) or self.summary

    def create(self, **params: Any) -> Any:
        """Build the component, rejecting parameters the factory does not take."""
        known = {p.name for p in self.params}
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in _signature_params(self.factory))
        if not accepts_any:
            for name in params:
                if name not in known:
                    raise TypeError(
                        f"{self.key} has no parameter {name!r}{suggest(name, known)}; "
                        f"parameters: {', '.join(sorted(known)) or '(none)'}"
                    )
        missing = [p.name for p in self.params if p.required and p.name not in params]
        if missing:
            raise TypeError(f"{self.key} needs parameter(s) {', '.join(missing)}")
        return self.factory(**params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "key": self.key,
            "summary": self.summary,
            "doc": self.doc,
            "params": [p.to_dict() for p in self.params],
            "provider": self.provider,
            "distribution": self.distribution,
            "version": self.version,
        }


def _signature_params(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return []


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


class Registry:
    """All components known to this process, keyed by `kind:name`."""

    def __init__(self) -> None:
        self._components: dict[str, Component] = {}

    def add(self, component: Component) -> Component:
        check_kind(component.kind)
        existing = self._components.get(component.key)
        if existing is not None:
            raise DuplicateComponentError(
                f"component {component.key!r} is registered twice: by {_who(existing)} and by {_who(component)}"
            )
        self._components[component.key] = component
        return component

    def get(self, kind_or_key: str, name: str | None = None) -> Component:
        """Look up ``get("mi.estimator", "ksg")`` or ``get("mi.estimator:ksg")``."""
        kind, name = _split(kind_or_key, name)
        key = f"{kind}:{name}"
        if key in self._components:
            return self._components[key]
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown component kind {kind!r}{suggest(kind, KINDS)}")
        same_kind = [c.name for c in self.components(kind)]
        hint = suggest(name, same_kind) or suggest(key, self._components)
        available = f"; available: {', '.join(same_kind)}" if same_kind else f"; no {kind} is registered"
        raise UnknownComponentError(f"unknown component {key!r}{hint}{available}")

    def create(self, kind_or_key: str, name: str | None = None, /, **params: Any) -> Any:
        """Build a component by name with keyword parameters."""
        return self.get(kind_or_key, name).create(**params)

    def components(self, kind: str | None = None) -> list[Component]:
        if kind is not None:
            check_kind(kind)
        found = [c for c in self._components.values() if kind is None or c.kind == kind]
        return sorted(found, key=lambda c: c.key)

    def __contains__(self, key: str) -> bool:
        return key in self._components

    def __iter__(self) -> Iterator[Component]:
        return iter(self.components())

    def __len__(self) -> int:
        return len(self._components)


def _split(kind_or_key: str, name: str | None) -> tuple[str, str]:
    if name is not None:
        return kind_or_key, name
    if ":" not in kind_or_key:
        raise UnknownComponentError(f"expected 'kind:name', got {kind_or_key!r}")
    kind, _, name = kind_or_key.partition(":")
    return kind, name


def _who(component: Component) -> str:
    dist = f" ({component.distribution} {component.version})" if component.distribution else ""
    return f"plugin {component.provider!r}{dist}"


class Register:
    """The callable a plugin's ``register_components`` hook receives.

    ``register(kind, name, factory, summary=..., params=...)`` adds one component and returns it.
    """

    def __init__(
        self, registry: Registry, provider: str, distribution: str | None = None, version: str | None = None
    ) -> None:
        self._registry = registry
        self.provider = provider
        self.distribution = distribution
        self.version = version

    def __call__(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        *,
        summary: str | None = None,
        params: tuple[Param, ...] | list[Param] | None = None,
    ) -> Component:
        check_kind(kind)
        if not name or ":" in name or name != name.strip():
            raise ValueError(f"component name must be non-empty without ':' or spaces around it, got {name!r}")
        if not callable(factory):
            raise TypeError(f"factory of {kind}:{name} must be callable, got {type(factory).__name__}")
        summary = summary or _first_line(inspect.getdoc(factory))
        if not summary:
            raise ValueError(f"{kind}:{name} needs a summary (pass summary= or give the factory a docstring)")
        component = Component(
            kind=kind,
            name=name,
            factory=factory,
            summary=summary,
            params=tuple(params) if params is not None else params_from_signature(factory),
            provider=self.provider,
            distribution=self.distribution,
            version=self.version,
        )
        return self._registry.add(component)
