"""`prose`: Jane Austen's six novels from Debian `r-cran-janeaustenr`, read with `rdata` (no R), one per chapter."""

from __future__ import annotations

import gzip
import itertools
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infomix.data.catalog import AUSTEN_RDATA, JANEAUSTENR
from infomix.data.corpus import Corpus, Document
from infomix.data.deps import require

CHAPTER = re.compile(r"^\s*chapter\s+([0-9]+|[ivxlc]+)\b", re.IGNORECASE)


def _r_object(data: bytes) -> Any:
    rdata = require("rdata", "the prose domain (reading R data)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that a headerless stream is "assumed RDS", which it is
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def read_lazyload(base: Path) -> dict[str, list[str]]:
    """Read the character vectors of an R lazy-load database (`base`.rdx index + `base`.rdb blobs).

    The .rdx is a gzip-compressed serialized list whose `variables` entry maps each name to (offset,
    length) in the .rdb; each blob there is a 4-byte big-endian length followed by zlib data.
    """
    require("rdata", "the prose domain (reading R data)")
    index = _r_object(gzip.decompress(base.with_suffix(".rdx").read_bytes()))
    blob = base.with_suffix(".rdb").read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        offset, length = int(offset), int(length)
        value = _r_object(zlib.decompress(blob[offset + 4 : offset + length]))
        out[str(name)] = ["" if x is None else str(x) for x in value]
    return out


def split_chapters(lines: list[str]) -> list[list[str]]:
    """Cut a novel's lines before each 'Chapter N' heading; the title page joins the first chapter."""
    starts = [i for i, line in enumerate(lines) if CHAPTER.match(line)]
    if len(starts) < 2:
        return [lines]
    bounds = [0, *starts[1:], len(lines)]
    return [lines[a:b] for a, b in itertools.pairwise(bounds)]


class ProseCorpus(Corpus):
    """Narrative prose: Jane Austen's six novels (public domain), one document per chapter.

    The Debian package of the R package janeaustenr is unpacked (not installed; no R needed) and its
    lazy-load database decoded with the `rdata` library (``pip install 'infomix[data]'``).
    """

    name = "prose"
    summary = "Jane Austen's six novels from Debian r-cran-janeaustenr, decoded with rdata, one per chapter"
    license = JANEAUSTENR.license
    sources = (JANEAUSTENR,)
    requires = ("rdata",)

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        books = read_lazyload(folders[0] / AUSTEN_RDATA / "Rdata")
        for book in sorted(books):
            for i, chapter in enumerate(split_chapters(books[book]), start=1):
                yield Document(f"{book}/{i:03d}", "\n".join(chapter).strip() + "\n")
