"""Mutual-information estimation: one interface, `estimate(x, y) -> Estimate`, in nats."""

from infomix.mi.estimate import Estimate, estimate
from infomix.mi.gaussian import GaussianEstimator
from infomix.mi.tasks import GaussianTask

__all__ = ["Estimate", "GaussianEstimator", "GaussianTask", "estimate"]
