"""`techdoc`: the reST sources of the Python 3.11 documentation (Debian `python3.11-doc`), one per page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infomix.data.catalog import PYDOC_SOURCES, PYTHON_DOC
from infomix.data.corpus import Corpus, Document


class TechdocCorpus(Corpus):
    """Technical documentation: the 497 reST pages of the Python 3.11 docs (PSF-2.0).

    Fetched with `apt-get download` and read from the .deb without installing it; on a machine
    without apt the domain is unavailable and is skipped.
    """

    name = "techdoc"
    summary = "Python 3.11 documentation reST sources from Debian python3.11-doc"
    license = PYTHON_DOC.license
    sources = (PYTHON_DOC,)

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        root = folders[0] / PYDOC_SOURCES
        for path in sorted(root.rglob("*.rst.txt")):
            yield Document(path.relative_to(root).as_posix().removesuffix(".rst.txt"), path.read_text(encoding="utf-8"))
