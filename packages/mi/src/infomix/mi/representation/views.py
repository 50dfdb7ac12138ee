"""Pairs of views of the same examples (row i of each view belongs together), with optional labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def _as_float_tensor(values: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if t.dtype == torch.uint8:
        t = t.to(torch.float32) / 255.0
    if not (t.is_floating_point() or t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8)):
        raise TypeError(f"{name} must hold numbers, got dtype {t.dtype}")
    t = t.to(torch.float32)
    if t.ndim < 2:
        raise ValueError(f"{name} must have shape [N, ...] with one row per example, got shape {tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return t


@dataclass(frozen=True)
class PairedViews:
    """Two views [N, ...] of N examples, float32; `labels` [N] (int64) feed the linear probe when present."""

    first: torch.Tensor
    second: torch.Tensor
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n1, n2 = self.first.shape[0], self.second.shape[0]
        if n1 != n2:
            raise ValueError(f"the views must have the same number of rows: first has {n1}, second has {n2}")
        if n1 < 2:
            raise ValueError(f"need at least 2 examples, got {n1}")
        if self.labels is not None and tuple(self.labels.shape) != (n1,):
            raise ValueError(f"labels must have shape [{n1}] (one per example), got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.first.shape[0])

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shape of one example of each view."""
        return tuple(self.first.shape[1:]), tuple(self.second.shape[1:])

    def subset(self, rows: torch.Tensor | slice) -> PairedViews:
        labels = None if self.labels is None else self.labels[rows]
        return PairedViews(self.first[rows], self.second[rows], labels)

    def sample(self, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of k distinct examples drawn uniformly (an i.i.d. batch of pairs)."""
        if not 2 <= k <= len(self):
            raise ValueError(f"batch size must be in [2, {len(self)}] for {len(self)} examples, got {k}")
        rows = torch.randperm(len(self), generator=generator)[:k]
        return self.first[rows], self.second[rows]

    def batches(self, k: int, limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive disjoint batches of k rows (the last partial one dropped), at most `limit` of them."""
        count = len(self) // k if limit is None else min(limit, len(self) // k)
        for i in range(count):
            yield self.first[i * k : (i + 1) * k], self.second[i * k : (i + 1) * k]


@dataclass(frozen=True)
class ViewSplit:
    """Train and test views of one data set, named."""

    name: str
    train: PairedViews
    test: PairedViews

    def __post_init__(self) -> None:
        if self.train.shapes != self.test.shapes:
            raise ValueError(f"train and test views differ in shape: {self.train.shapes} vs {self.test.shapes}")


def paired(first: Any, second: Any, labels: Any = None) -> PairedViews:
    """PairedViews from any array-likes (numpy, torch, lists); uint8 arrays are scaled to [0, 1]."""
    a, b = _as_float_tensor(first, "first"), _as_float_tensor(second, "second")
    y = None
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels))
        if y.is_floating_point() or y.ndim != 1:
            raise ValueError(f"labels must be a 1-D integer array, got dtype {y.dtype} and shape {tuple(y.shape)}")
        y = y.to(torch.int64)
    return PairedViews(a, b, y)


def image_halves(images: Any, labels: Any = None) -> PairedViews:
    """Top and bottom halves of images [N, H, W] (H even) as views [N, 1, H/2, W]; uint8 is scaled to [0, 1]."""
    arr = _as_float_tensor(images, "images")
    if arr.ndim != 3:
        raise ValueError(f"images must have shape [N, H, W], got {tuple(arr.shape)}")
    h = arr.shape[1]
    if h % 2:
        raise ValueError(f"images must have an even height to split into halves, got H={h}")
    return paired(arr[:, None, : h // 2], arr[:, None, h // 2 :], labels)
