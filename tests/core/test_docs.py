"""The docs match the code: every hook and component kind is in docs/plugins.md, and the examples of docs/ops.md run."""

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


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_ops_doc_examples_run(capsys):
    blocks = _python_blocks(DOC.parent / "ops.md")
    assert blocks, "docs/ops.md has no python example"
    for code in blocks:
        exec(compile(code, "docs/ops.md", "exec"), {})
    assert "torch.bfloat16 torch.Size([1000, 32])" in capsys.readouterr().out
