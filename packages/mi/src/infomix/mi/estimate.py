"""The result every estimator returns, and `estimate(x, y)` dispatching to a registered estimator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

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


DEFAULT_ESTIMATOR = "gaussian"


def estimate(x: Any, y: Any, *, estimator: str = DEFAULT_ESTIMATOR, bits: bool = False, **params: Any) -> Estimate:
    """Estimate I(x; y) with the registered `mi.estimator` named `estimator` (nats, or bits on request)."""
    from infomix.core import get_registry

    result: Estimate = get_registry().create("mi.estimator", estimator, **params).estimate(x, y)
    return result.to_bits() if bits else result
