"""Validation of paired samples: arrays or tensors of shape [n, d] (1-D is one column), finite, same n."""

from __future__ import annotations

from typing import Any

import numpy as np


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch.Tensor without importing torch
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def as_matrix(values: Any, name: str) -> np.ndarray:
    """Return `values` as a float64 [n, d] array, or raise naming `name` and what was expected."""
    array = _to_numpy(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [n, d] (or [n]), got shape {tuple(array.shape)}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {tuple(array.shape)}")
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


def require_varying(array: np.ndarray, name: str) -> None:
    """Raise naming `name` and the column when a column of a continuous variable is constant."""
    constant = np.flatnonzero(np.ptp(array, axis=0) == 0)
    if constant.size:
        raise ValueError(
            f"{name} has constant column(s) {', '.join(map(str, constant[:5]))}: a constant carries no information "
            "and breaks continuous estimators; drop it"
        )


def standardized(array: np.ndarray) -> np.ndarray:
    """Each column shifted to mean 0 and scaled to standard deviation 1 (MI is invariant under this)."""
    return (array - array.mean(axis=0)) / array.std(axis=0)


def as_labels(values: Any, name: str) -> np.ndarray:
    """Return a discrete variable as integer codes 0..K-1, one per row (a multi-column row is one symbol)."""
    array = _to_numpy(values)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape [n, d] (or [n]), got shape {tuple(array.shape)}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values; a discrete variable needs finite labels")
    elif array.dtype == object:
        array = array.astype(str)
    _, codes = np.unique(array, axis=0, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def paired_labels(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired discrete sample: integer codes of x and y with the same number of rows (n >= 2)."""
    cx, cy = as_labels(x, "x"), as_labels(y, "y")
    if cx.size != cy.size:
        raise ValueError(f"x and y must have the same number of samples, got {cx.size} and {cy.size}")
    if cx.size < 2:
        raise ValueError(f"need at least 2 samples, got {cx.size}")
    return cx, cy
