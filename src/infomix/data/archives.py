"""Extract wheels, zips, tarballs and Debian packages (read in Python, no dpkg needed), optionally filtered."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from infomix.data.errors import DataError
from infomix.data.progress import progress

Select = Callable[[str], bool]


def _clean(name: str) -> str | None:
    """Normalise an archive member name; None for names that would escape the destination."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        return None
    return path.as_posix()


def archive_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".whl", ".zip")):
        return "zip"
    if name.endswith(".deb"):
        return "deb"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2")):
        return "tar"
    raise DataError(f"archive {path.name!r}: unknown format (expected .whl, .zip, .tar[.gz|.xz|.bz2] or .deb)")


def ar_members(f: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """The members (name, bytes) of a Unix `ar` archive, the container format of a .deb."""
    if f.read(8) != b"!<arch>\n":
        raise DataError("not an ar archive (a .deb starts with '!<arch>')")
    while header := f.read(60):
        if len(header) < 60 or header[58:60] != b"`\n":
            raise DataError("corrupt ar archive header")
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        data = f.read(size)
        if size % 2:
            f.read(1)
        yield name, data


def _deb_data_tar(path: Path) -> tarfile.TarFile:
    with open(path, "rb") as f:
        for name, data in ar_members(f):
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    return _dpkg_fsys_tarfile(path)
                return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    raise DataError(f"{path.name}: no data.tar member; is it a Debian package?")


def _dpkg_fsys_tarfile(path: Path) -> tarfile.TarFile:
    if shutil.which("dpkg-deb") is None:
        raise DataError(f"{path.name}: zstd-compressed data needs dpkg-deb, which is not installed")
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], check=True, capture_output=True).stdout
    return tarfile.open(fileobj=io.BytesIO(out), mode="r:")


def extract(archive: str | Path, dest: str | Path, select: Select | None = None) -> list[str]:
    """Extract the regular files of `archive` whose cleaned name passes `select` into `dest`.

    Returns the extracted names (posix, relative to `dest`). Links and special files are skipped.
    """
    archive, dest = Path(archive), Path(dest)
    fmt = archive_format(archive)
    written: list[str] = []
    with progress() as bar:
        task = bar.add_task(f"extracting {archive.name}", total=None)
        if fmt == "zip":
            with zipfile.ZipFile(archive) as z:
                infos = [i for i in z.infolist() if not i.is_dir()]
                bar.update(task, total=len(infos))
                for info in infos:
                    name = _clean(info.filename)
                    if name is not None and (select is None or select(name)):
                        _write(dest / name, z.read(info))
                        written.append(name)
                    bar.advance(task)
        else:
            tar = _deb_data_tar(archive) if fmt == "deb" else tarfile.open(archive, mode="r:*")  # noqa: SIM115
            with tar:
                members = [m for m in tar.getmembers() if m.isfile()]
                bar.update(task, total=len(members))
                for member in members:
                    name = _clean(member.name)
                    if name is not None and (select is None or select(name)):
                        fileobj = tar.extractfile(member)
                        assert fileobj is not None
                        _write(dest / name, fileobj.read())
                        written.append(name)
                    bar.advance(task)
    return sorted(written)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
