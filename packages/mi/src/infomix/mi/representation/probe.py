"""Linear probe: min-max scaled features, multinomial logistic regression (scikit-learn), test accuracy."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy of a linear classifier trained on train features, on held-out test features."""

    accuracy: float
    train_accuracy: float
    n_train: int
    n_test: int
    converged: bool


def _sklearn() -> tuple[Any, Any]:
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import MinMaxScaler
    except ImportError:
        raise ImportError("the linear probe needs scikit-learn: pip install 'infomix-mi[representation]'") from None
    return LogisticRegression, MinMaxScaler


def linear_probe(
    train_x: Any,
    train_y: Any,
    test_x: Any,
    test_y: Any,
    *,
    C: float = 10.0,
    tol: float = 0.1,
    max_iter: int = 100,
    solver: str = "saga",
    seed: int = 0,
) -> ProbeResult:
    """Fit MinMaxScaler + LogisticRegression(C, tol, solver) on train; report accuracy on test.

    Defaults follow Tschannen et al.'s probe (saga, tol 0.1, C 10). A fit that stops at `max_iter` is
    reported through ``converged=False`` rather than a warning.
    """
    LogisticRegression, MinMaxScaler = _sklearn()
    from sklearn.exceptions import ConvergenceWarning

    xs = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (train_x, test_x)]
    ys = [np.asarray(a).reshape(-1) for a in (train_y, test_y)]
    for name, x, y in (("train", xs[0], ys[0]), ("test", xs[1], ys[1])):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name} features have {x.shape[0]} rows but {name} labels have {y.shape[0]}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} features contain NaN or infinite values")
    if xs[0].shape[1] != xs[1].shape[1]:
        raise ValueError(f"train and test features differ in width: {xs[0].shape[1]} vs {xs[1].shape[1]}")
    if np.unique(ys[0]).size < 2:
        raise ValueError("the train labels must contain at least two classes")
    scaler = MinMaxScaler().fit(xs[0])
    train, test = scaler.transform(xs[0]), scaler.transform(xs[1])
    model = LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=solver, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(train, ys[0])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return ProbeResult(
        accuracy=float((model.predict(test) == ys[1]).mean()),
        train_accuracy=float((model.predict(train) == ys[0]).mean()),
        n_train=int(train.shape[0]),
        n_test=int(test.shape[0]),
        converged=converged,
    )


def encode(encoder: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """The encoder's outputs for all rows of x (no gradients, evaluation mode restored afterwards)."""
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            parts = [encoder(x[i : i + batch_size]).flatten(1) for i in range(0, x.shape[0], batch_size)]
    finally:
        encoder.train(was_training)
    return torch.cat(parts).numpy()
