"""Every hook (with each of its arguments) and every component kind is documented in docs/plugins.md."""

import inspect
from pathlib import Path

import pytest

from infomix.core import hookspecs
from infomix.core.kinds import KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hooks():
    return [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "infomix_spec")]


def test_the_hook_list_is_complete():
    assert sorted(hooks()) == sorted(hookspecs.HOOKS)


@pytest.mark.parametrize("name", hooks())
def test_hook_is_documented(name):
    text = DOC.read_text()
    args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({args})`" in text, f"docs/plugins.md lacks a '### `{name}({args})`' section"
    assert inspect.getdoc(getattr(hookspecs, name)), f"hookspec {name} has no docstring"


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_is_documented(kind):
    assert f"| `{kind}` |" in DOC.read_text(), f"docs/plugins.md lacks component kind {kind}"
    assert len(KINDS[kind]) > 20
