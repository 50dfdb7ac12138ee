"""`code`: the CPython standard library installed with this Python, one document per module, tests excluded."""

from __future__ import annotations

import hashlib
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infomix.data.corpus import Corpus, Document

EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[Path]:
    """The stdlib's .py files outside test folders, site-packages and test_*.py modules."""
    return sorted(
        p
        for p in root.rglob("*.py")
        if not EXCLUDED_DIRS & set(p.relative_to(root).parts[:-1]) and not p.name.startswith("test_")
    )


class CodeCorpus(Corpus):
    """Python source code: the standard library of the running interpreter (no tests), PSF-2.0.

    The stdlib is on every machine, so nothing is downloaded; its exact content depends on the Python
    version, which is part of the cache key and recorded (with a hash of the file list) in the metadata.
    """

    name = "code"
    summary = "CPython standard library source (no tests), one document per module"
    license = "PSF-2.0"
    sources = ()
    _source_key: str | None = None

    def source_key(self) -> str:
        if self._source_key is None:
            self._source_key = self._stdlib_key()
        return self._source_key

    def _stdlib_key(self) -> str:
        root = stdlib_root()
        listing = "\n".join(f"{p.relative_to(root).as_posix()}:{p.stat().st_size}" for p in stdlib_files(root))
        digest = hashlib.sha256(listing.encode()).hexdigest()[:12]
        return f"py{sys.version_info.major}.{sys.version_info.minor}-{digest}"

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        root = stdlib_root()
        for path in stdlib_files(root):
            yield Document(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8", errors="replace"))

    def extra_meta(self) -> dict[str, Any]:
        return {"python": sys.version.split()[0], "stdlib": str(stdlib_root())}
