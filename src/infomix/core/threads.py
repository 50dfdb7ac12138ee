"""`torch_threads(n)`: run a block with n intra-op threads, restoring the previous count after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Small problems (tiny models, per-step optimisation of a few vectors) run fastest on one thread;
    on a busy machine extra threads mostly wait for each other."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
