"""Registry: registration, lookup with suggestions, duplicates naming both providers, parameters."""

import pytest

from infomix.core import DuplicateComponentError, Registry, UnknownComponentError
from infomix.core.registry import Param, Register


class Widget:
    """A widget for tests.

    Longer description.
    """

    def __init__(self, size: int = 3, label: str = "w") -> None:
        self.size, self.label = size, label


def needs_rate(rate: float) -> dict:
    """Needs a rate."""
    return {"rate": rate}


@pytest.fixture
def registry():
    reg = Registry()
    register = Register(reg, "plugin-a", "dist-a", "1.0")
    register("mi.estimator", "widget", Widget)
    register("mixing.method", "rate", needs_rate)
    return reg


def test_lookup_and_create(registry):
    component = registry.get("mi.estimator:widget")
    assert component is registry.get("mi.estimator", "widget")
    assert component.summary == "A widget for tests."
    assert component.doc.startswith("A widget for tests.\n\nLonger description.")
    assert component.distribution == "dist-a" and component.provider == "plugin-a"
    assert [(p.name, p.type, p.default) for p in component.params] == [("size", "int", 3), ("label", "str", "w")]
    built = registry.create("mi.estimator:widget", size=5)
    assert (built.size, built.label) == (5, "w")


def test_required_and_unknown_parameters(registry):
    component = registry.get("mixing.method:rate")
    assert component.params[0].required
    with pytest.raises(TypeError, match="needs parameter"):
        component.create()
    with pytest.raises(TypeError, match=r"no parameter 'sise'.*did you mean: size"):
        registry.create("mi.estimator:widget", sise=2)


def test_unknown_names_suggest_close_matches(registry):
    with pytest.raises(UnknownComponentError, match=r"did you mean: widget\?.*available: widget"):
        registry.get("mi.estimator:widgt")
    with pytest.raises(UnknownComponentError, match=r"unknown component kind 'mi.estimater'.*mi.estimator"):
        registry.get("mi.estimater:widget")
    with pytest.raises(UnknownComponentError, match="expected 'kind:name'"):
        registry.get("widget")
    with pytest.raises(UnknownComponentError, match=r"no moe\.router is registered"):
        registry.get("moe.router:topk")


def test_duplicate_names_both_providers(registry):
    other = Register(registry, "plugin-b", "dist-b", "2.0")
    with pytest.raises(DuplicateComponentError) as info:
        other("mi.estimator", "widget", Widget)
    message = str(info.value)
    assert "'plugin-a' (dist-a 1.0)" in message and "'plugin-b' (dist-b 2.0)" in message


def test_register_validation(registry):
    register = Register(registry, "p")
    with pytest.raises(ValueError, match="unknown component kind"):
        register("mi.estimatorz", "x", Widget)
    with pytest.raises(ValueError, match="name"):
        register("mi.estimator", "a:b", Widget)
    with pytest.raises(TypeError, match="callable"):
        register("mi.estimator", "x", 3)
    with pytest.raises(ValueError, match="summary"):
        register("mi.estimator", "x", lambda: None)


def test_explicit_params_and_listing(registry):
    register = Register(registry, "p")
    register("moe.router", "z", Widget, summary="Z.", params=[Param("size", "int", 1, "how big")])
    assert registry.get("moe.router:z").params[0].doc == "how big"
    assert [c.key for c in registry.components("moe.router")] == ["moe.router:z"]
    assert len(registry) == 3 and "moe.router:z" in registry
    with pytest.raises(ValueError, match="unknown component kind"):
        registry.components("nope")
