"""Find a collection folder: an explicit path, $INFOMIX_DATA/<name>, or shared/data/<name> above the cwd."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "INFOMIX_DATA"


def candidates(name: str) -> list[Path]:
    found = []
    if os.environ.get(DATA_ENV):
        found.append(Path(os.environ[DATA_ENV]).expanduser() / name)
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        found.append(folder / "shared" / "data" / name)
    return found


def find_collection(name: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The folder of collection `name`: `path` if given (it must exist), else the first existing candidate.

    Without a path the search order is $INFOMIX_DATA/<name>, then ./shared/data/<name>,
    ../shared/data/<name>, ... up to the filesystem root (so `../shared/data/<name>` from a checkout).
    """
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"collection {name!r}: path {str(folder)!r} is not a folder")
        return folder
    for folder in candidates(name):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"collection {name!r} not found: pass path=..., or set {DATA_ENV} to a folder holding {name}/ "
        f"(looked in: {', '.join(str(p) for p in candidates(name)[:3])}, ...)"
    )
