"""The result every estimator returns, and `estimate(x, y)` dispatching to a registered estimator."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

NATS_PER_BIT = math.log(2.0)


@dataclass(frozen=True)
class Estimate:
    """A mutual-information estimate with an interval (None where the estimator has none)."""

    value: float
    lower: float | None = None
    upper: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    unit: str = "nats"

    def to_bits(self) -> Estimate:
        if self.unit == "bits":
            return self

        def conv(v: float | None) -> float | None:
            return None if v is None else v / NATS_PER_BIT

        return replace(self, value=conv(self.value), lower=conv(self.lower), upper=conv(self.upper), unit="bits")

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper, "unit": self.unit, "info": self.info}


@runtime_checkable
class MIEstimator(Protocol):
    """What an `mi.estimator` component is: anything with `estimate(x, y) -> Estimate` (nats)."""

    def estimate(self, x: Any, y: Any) -> Estimate: ...


# Most accurate first (benchmarks/mi/README.md), `tcopula` left out: it matches `learned`'s MAE, but its interval
# is a bootstrap of a 0.01-0.4 s fit. `estimate()` and `infomix mi estimate` use the first registered
# one that supports the sample (an estimator may define `supports(n, dim_x, dim_y)`, as the learned one does).
PREFERRED_ESTIMATORS = ("learned", "ksg", "copula", "gaussian")
DEFAULT_ESTIMATOR = "gaussian"  # kept for compatibility; `default_estimator()` is what is used


def _shape(values: Any) -> tuple[int, int]:
    import numpy as np

    shape = getattr(values, "shape", None)
    shape = tuple(shape) if shape is not None else np.shape(values)
    return int(shape[0]) if shape else 0, int(shape[1]) if len(shape) > 1 else 1


def default_estimator(x: Any = None, y: Any = None) -> str:
    """The most accurate registered estimator (see PREFERRED_ESTIMATORS); given a sample, the most
    accurate one that supports its n, d_x and d_y."""
    from infomix.core import get_registry

    registry = get_registry()
    for name in PREFERRED_ESTIMATORS:
        if f"mi.estimator:{name}" not in registry:
            continue
        try:  # e.g. the learned estimator without torch installed
            component = registry.create("mi.estimator", name)
        except (ImportError, OSError):
            continue
        if x is not None and y is not None:
            supports = getattr(component, "supports", None)
            (n, dx), (_, dy) = _shape(x), _shape(y)
            if supports is not None and not supports(n, dx, dy):
                continue
        return name
    available = [c.name for c in registry.components("mi.estimator")]
    if not available:
        raise LookupError("no mi.estimator is registered: is infomix-mi installed?")
    return available[0]


def estimate(x: Any, y: Any, *, estimator: str | None = None, bits: bool = False, **params: Any) -> Estimate:
    """Estimate I(x; y) with the registered `mi.estimator` named `estimator` (nats, or bits on request).

    `x` and `y` are numpy arrays or torch tensors of shape [n, d_x] and [n, d_y] (1-D is one column);
    `params` go to the estimator's constructor. With no `estimator` the most accurate registered one is
    used for that sample's shape. `info` gains `estimator`, `n` and `seconds` (wall time of the estimate).
    """
    from infomix.core import get_registry

    name = estimator or default_estimator(x, y)
    component = get_registry().create("mi.estimator", name, **params)
    start = time.perf_counter()
    result: Estimate = component.estimate(x, y)
    seconds = time.perf_counter() - start
    info = {"estimator": name, **result.info, "seconds": seconds}
    info.setdefault("n", _rows(x))
    result = replace(result, info=info)
    return result.to_bits() if bits else result


def _rows(x: Any) -> int | None:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else None
