"""The cache directory (INFOMIX_CACHE, default ~/.cache/infomix) and sha256 helpers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CACHE_ENV = "INFOMIX_CACHE"
_CHUNK = 1 << 20


def cache_root() -> Path:
    """The root of the data cache: $INFOMIX_CACHE, or ~/.cache/infomix."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "infomix"


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str | os.PathLike[str], files: Iterable[str] | None = None) -> str:
    """One sha256 for a set of files under `root`: the hash of the sorted `relpath\\tsha256` lines."""
    root = Path(root)
    names = (
        sorted(files)
        if files is not None
        else sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    )
    lines = "".join(f"{name}\t{sha256_file(root / name)}\n" for name in names)
    return sha256_bytes(lines.encode())
