"""The README's Python examples run and print what they say."""

import math
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_readme_has_examples():
    assert len(python_blocks()) >= 2


def test_estimate_example_reads_the_stated_mi(capsys):
    exec(compile(python_blocks()[0], "README.md", "exec"), {})
    first, second = capsys.readouterr().out.strip().splitlines()
    value, lower, upper = (float(v) for v in first.replace("(", " ").replace(")", " ").replace(",", " ").split()[:3])
    truth = -0.5 * math.log(1 - 0.75**2)
    assert abs(value - truth) < 0.05 and lower <= value <= upper
    assert abs(float(second) - truth / math.log(2)) < 0.05  # the copula estimate, in bits


@pytest.mark.parametrize("index", range(1, len(python_blocks())))
def test_other_examples_run(index, capsys):
    exec(compile(python_blocks()[index], "README.md", "exec"), {})
    assert capsys.readouterr().out.strip()
