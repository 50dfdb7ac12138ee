"""Extraction of zip/wheel, tar and .deb archives, with member selection and unsafe names rejected."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from infomix.data.archives import archive_format, extract
from infomix.data.errors import DataError

from .conftest import make_deb, make_tar, make_zip


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["whl", "zip", "tar.gz", "tar.xz", "tar", "deb"])
def test_extract_round_trips_every_format(tmp_path, random_files, kind):
    archive = tmp_path / f"a.{kind}"
    if kind in ("whl", "zip"):
        make_zip(archive, random_files)
    elif kind == "deb":
        make_deb(archive, random_files)
    else:
        make_tar(archive, random_files, {"tar.gz": "w:gz", "tar.xz": "w:xz", "tar": "w"}[kind])
    names = extract(archive, tmp_path / "out")
    assert names == sorted(random_files)
    assert _tree(tmp_path / "out") == random_files


def test_extract_selects_members(tmp_path, random_files):
    archive = make_zip(tmp_path / "a.whl", random_files)
    names = extract(archive, tmp_path / "out", select=lambda n: n.endswith(".txt") and n.startswith("pkg/"))
    assert names == ["pkg/a.txt", "pkg/sub/c.txt"]
    assert _tree(tmp_path / "out") == {n: random_files[n] for n in names}


def test_extract_skips_names_escaping_the_destination(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as t:
        for name in ("../escape.txt", "/abs.txt", "ok/../../x.txt", "fine.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            t.addfile(info, io.BytesIO(b"hi"))
    assert extract(archive, tmp_path / "out") == ["fine.txt"]
    assert not (tmp_path / "escape.txt").exists()
    assert not Path("/abs.txt").exists()


def test_unknown_format_and_bad_deb(tmp_path):
    with pytest.raises(DataError, match="unknown format"):
        archive_format(tmp_path / "x.rar")
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"not an ar file at all")
    with pytest.raises(DataError, match="not an ar archive"):
        extract(bad, tmp_path / "out")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_deb_reader_agrees_with_dpkg_deb(tmp_path, random_files):
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: infomix-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    for name, data in random_files.items():
        (pkg / "usr" / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / "usr" / name).write_bytes(data)
    deb = tmp_path / "t.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)], check=True, capture_output=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "by-dpkg")], check=True)
    extract(deb, tmp_path / "ours")
    assert _tree(tmp_path / "ours") == _tree(tmp_path / "by-dpkg") == {f"usr/{k}": v for k, v in random_files.items()}
