"""Batches of indices with a rich progress bar on stderr (hidden when quiet or not on a terminal)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def batches(order: np.ndarray, size: int, description: str, show: bool = True) -> Iterator[np.ndarray]:
    """Consecutive slices of ``order`` of at most ``size`` items, advancing a progress bar by items done."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {size!r}")
    order = np.asarray(order)
    if not show:
        for start in range(0, len(order), size):
            yield order[start : start + size]
        return
    from infomix.data.progress import progress

    with progress() as bar:
        task = bar.add_task(description, total=len(order))
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            yield chunk
            bar.advance(task, len(chunk))
