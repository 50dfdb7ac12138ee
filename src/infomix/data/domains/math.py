"""`math`: Metamath's `set.mm` (Debian `metamath-databases`, CC0) without its proofs, one document per section."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from infomix.data.catalog import METAMATH, SET_MM
from infomix.data.corpus import Corpus, Document

PROOF = re.compile(r"\$=.*?\$\.", re.DOTALL)
# A heading comment: "$(" then a decoration line of a part (####), section (#*#*) or subsection (=-=-).
HEADING = re.compile(r"^\$\(\n[ \t]*(?:####|#\*#\*|=-=-)[^\n]*\n([^\n]*)", re.MULTILINE)


def cut_proofs(text: str) -> str:
    """Replace every proof (`$= ... $.`) by `$= ... $.`, keeping statements and comments."""
    return PROOF.sub("$= ... $.", text)


def split_sections(text: str) -> list[tuple[str, str]]:
    """(title, text) pieces cut before each part/section/subsection heading; the preamble is first."""
    marks = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(text)]
    bounds = [(0, "preamble"), *marks] if not marks or marks[0][0] > 0 else marks
    pieces = []
    for i, (start, title) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        pieces.append((title, text[start:end]))
    return pieces


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "untitled"


class MathCorpus(Corpus):
    """Formal mathematics: set.mm (ZFC set theory in Metamath, CC0) with its compressed proofs cut.

    Statements, hypotheses and English comments stay; documents are the database's (sub)sections.
    """

    name = "math"
    summary = "Metamath set.mm from Debian metamath-databases, proofs cut, one document per section"
    license = METAMATH.license
    sources = (METAMATH,)

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        text = cut_proofs((folders[0] / SET_MM).read_text(encoding="utf-8"))
        for i, (title, piece) in enumerate(split_sections(text)):
            yield Document(f"{i:05d}-{slug(title)}", piece)
