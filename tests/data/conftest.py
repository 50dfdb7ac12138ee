"""Fixtures for the data tests: a private cache per test, archive builders, the real cache for network tests."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from infomix.data.cache import cache_root
from infomix.data.errors import MissingDependency, SourceUnavailable


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty INFOMIX_CACHE for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("INFOMIX_CACHE", str(root))
    monkeypatch.setenv("INFOMIX_QUIET", "1")
    return root


@pytest.fixture
def real_cache(monkeypatch):
    """The user's cache (INFOMIX_CACHE or ~/.cache/infomix): network fetches are downloaded once and reused."""
    monkeypatch.setenv("INFOMIX_QUIET", "1")
    return cache_root()


def fetch_or_skip(fn, *args, **kwargs):
    """Run a fetching call; skip the test (with the reason) when the source is unreachable here."""
    try:
        return fn(*args, **kwargs)
    except (SourceUnavailable, MissingDependency) as exc:
        pytest.skip(f"source unavailable on this machine: {exc}")


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def make_deb(path: Path, files: dict[str, bytes]) -> Path:
    """A minimal Debian package: ar archive of debian-binary, control.tar.xz and data.tar.xz."""

    def tar_bytes(entries: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:xz") as t:
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", tar_bytes({"./control": b"Package: x\nVersion: 1\nArchitecture: all\n"})),
        ("data.tar.xz", tar_bytes({f"./{k}": v for k, v in files.items()})),
    ]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def random_files():
    """A few files with random content (fresh each test), some in sub-folders."""
    return {
        "pkg/a.txt": os.urandom(257),
        "pkg/sub/b.bin": os.urandom(1000),
        "pkg/sub/c.txt": b"hello " + os.urandom(16).hex().encode(),
        "other/d.txt": os.urandom(33),
    }
