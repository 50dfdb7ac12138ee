"""Two-view InfoMax representation learning (Tschannen et al. 2020): views, encoders, critics, bounds, probes."""

from __future__ import annotations

import importlib
from typing import Any

# public name -> defining module; imported on first use so that `infomix mi --help` does not load torch
_EXPORTS = {
    "PairedViews": "views",
    "ViewSplit": "views",
    "paired": "views",
    "image_halves": "views",
    "digits_halves": "datasets",
    "fashion_mnist_halves": "datasets",
    "GaussianViews": "datasets",
    "load_views": "datasets",
    "make_encoder": "encoders",
    "MLPEncoder": "encoders",
    "ConvEncoder": "encoders",
    "ResidualMLPEncoder": "encoders",
    "AdditiveCouplingFlow": "encoders",
    "make_critic": "critics",
    "CRITICS": "critics",
    "bound": "objectives",
    "objective_loss": "objectives",
    "triplet_loss": "objectives",
    "linear_probe": "probe",
    "ProbeResult": "probe",
    "InfoMaxConfig": "train",
    "InfoMaxHistory": "train",
    "train_infomax": "train",
    "run_infomax": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
