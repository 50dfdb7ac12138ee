"""Mutual-information estimation: one interface, `estimate(x, y) -> Estimate`, in nats."""

from infomix.mi.copula import GaussianCopulaEstimator
from infomix.mi.discrete import DiscreteEstimator
from infomix.mi.estimate import Estimate, MIEstimator, default_estimator, estimate
from infomix.mi.gaussian import GaussianEstimator
from infomix.mi.histogram import HistogramEstimator
from infomix.mi.ksg import KSG2Estimator, KSGEstimator
from infomix.mi.mixed import DiscreteContinuousEstimator
from infomix.mi.tasks import (
    NAMED_TASKS,
    AdditiveUniformTask,
    DiscreteTask,
    GaussianTask,
    LabelGaussianTask,
    MITask,
    MultinormalTask,
    StudentTask,
    TransformedTask,
    task,
)
from infomix.mi.tcopula import TCopulaEstimator

__all__ = [
    "NAMED_TASKS",
    "AdditiveUniformTask",
    "DiscreteContinuousEstimator",
    "DiscreteEstimator",
    "DiscreteTask",
    "Estimate",
    "GaussianCopulaEstimator",
    "GaussianEstimator",
    "GaussianTask",
    "HistogramEstimator",
    "KSG2Estimator",
    "KSGEstimator",
    "LabelGaussianTask",
    "MIEstimator",
    "MITask",
    "MultinormalTask",
    "StudentTask",
    "TCopulaEstimator",
    "TransformedTask",
    "default_estimator",
    "estimate",
    "task",
]
