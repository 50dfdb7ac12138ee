"""Rich progress bars for downloads, extraction and preparation (quiet when INFOMIX_QUIET is set)."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("INFOMIX_QUIET", "").strip().lower() in {"1", "true", "yes", "on"}


def progress() -> Progress:
    """A progress display on stderr; disabled when quiet or when stderr is not a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet() or not sys.stderr.isatty(),
    )


def note(message: str) -> None:
    """A one-line status message on stderr (skipped when quiet)."""
    if not quiet():
        console.print(message, markup=False, highlight=False)
