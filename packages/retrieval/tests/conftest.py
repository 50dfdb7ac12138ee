"""Shared corpora for the retrieval tests: Cranfield's raw text (when present) and a random unicode corpus."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


def cranfield_dir() -> Path:
    base = Path(os.environ["INFOMIX_DATA"]) if "INFOMIX_DATA" in os.environ else ROOT.parent / "shared" / "data"
    return base / "cranfield"


def raw_records(path: Path) -> list[str]:
    """The raw text between `.I` lines (fields and all): test input only, not a collection loader."""
    return [chunk for chunk in re.split(r"^\.I .*$", path.read_text(), flags=re.M) if chunk.strip()]


def random_corpus(seed: int, n_docs: int = 300, n_queries: int = 40) -> tuple[list[str], list[str]]:
    """Zipf-distributed words (ASCII, accented, Greek, one-letter, stop words, digits) joined with punctuation."""
    rng = np.random.default_rng(seed)
    stems = ["flow", "wing", "shock", "heat", "boundary", "layer", "naïve", "café", "Straße", "λόγος", "x", "y"]
    suffixes = ["", "s", "ing", "ed", "ly", "ation"]
    words = [s + x for s in stems for x in suffixes] + ["the", "of", "and", "a", "is", "THE", "2", "42", "ÉTÉ"]
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()

    def text(length: int) -> str:
        picks = rng.choice(len(words), size=length, p=weights)
        seps = rng.choice([" ", ", ", ". ", " - ", "\n", "/"], size=length)
        return "".join(words[i] + sep for i, sep in zip(picks, seps, strict=True))

    docs = [text(int(rng.integers(0, 60))) for _ in range(n_docs)]
    queries = [text(int(rng.integers(1, 8))) for _ in range(n_queries)]
    return docs, queries


@pytest.fixture(params=["random", "cranfield"])
def corpus(request) -> tuple[list[str], list[str]]:
    """(docs, queries) as raw text."""
    if request.param == "random":
        return random_corpus(seed=1234)
    folder = cranfield_dir()
    if not (folder / "cran.all.1400").is_file():
        pytest.skip(f"Cranfield raw text not found under {folder}")
    return raw_records(folder / "cran.all.1400"), raw_records(folder / "cran.qry")
