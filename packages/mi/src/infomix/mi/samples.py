"""Validation of paired samples: arrays or tensors of shape [n, d] (1-D is one column), finite, same n."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_matrix(values: Any, name: str) -> np.ndarray:
    """Return `values` as a float64 [n, d] array, or raise naming `name` and what was expected."""
    if hasattr(values, "detach"):  # torch.Tensor without importing torch
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [n, d] (or [n]), got shape {tuple(array.shape)}")
    array = array.astype(np.float64, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        shown = ", ".join(map(str, rows[:5])) + (", ..." if rows.size > 5 else "")
        raise ValueError(f"{name} contains NaN or infinite values in {rows.size} row(s): {shown}")
    return array


def paired(x: Any, y: Any, *, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired sample (x, y): same number of rows, at least `min_samples`."""
    xm, ym = as_matrix(x, "x"), as_matrix(y, "y")
    if xm.shape[0] != ym.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {xm.shape[0]} and {ym.shape[0]}")
    if xm.shape[0] < min_samples:
        raise ValueError(f"need at least {min_samples} samples, got {xm.shape[0]}")
    return xm, ym
