"""The one interface: estimate(x, y) over every registered estimator, numpy or torch, 1-D columns, bits."""

import math

import numpy as np
import pytest

from infomix.core import get_registry
from infomix.core.testing import check_component
from infomix.mi import Estimate, MIEstimator, default_estimator, estimate, task

CONTINUOUS = ["gaussian", "copula", "tcopula", "histogram", "ksg", "ksg2"]
FAST = {"n_bootstrap": 0}


def fast_params(name):
    no_resamples = {"n_resamples": 0}
    return {"gaussian": FAST, "copula": FAST, "tcopula": FAST, "ksg": no_resamples, "ksg2": no_resamples}.get(name, {})


def test_every_estimator_is_a_documented_component_meeting_the_protocol():
    components = get_registry().components("mi.estimator")
    assert {c.name for c in components} >= {*CONTINUOUS, "discrete", "discrete-continuous"}
    for component in components:
        check_component(component)
        assert isinstance(component.create(), MIEstimator)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_one_dimensional_input_is_one_column_and_torch_is_accepted(name):
    torch = pytest.importorskip("torch")
    x, y = task("1v1-normal-0.75").sample(800, seed=1)
    as_columns = estimate(x, y, estimator=name, **fast_params(name))
    as_vectors = estimate(x[:, 0], y[:, 0], estimator=name, **fast_params(name))
    as_tensors = estimate(torch.from_numpy(x[:, 0]).float(), torch.from_numpy(y), estimator=name, **fast_params(name))
    assert as_vectors.value == pytest.approx(as_columns.value, rel=1e-12)
    assert as_tensors.value == pytest.approx(as_columns.value, abs=1e-5)  # float32 rounding only
    assert as_columns.info["estimator"] == name and as_columns.info["n"] == 800
    assert as_columns.info["seconds"] > 0


def test_bits_on_request():
    x, y = task("1v1-normal-0.75").sample(1000, seed=2)
    nats = estimate(x, y, estimator="ksg")
    bits = estimate(x, y, estimator="ksg", bits=True)
    assert bits.unit == "bits" and nats.unit == "nats"
    for a, b in [(bits.value, nats.value), (bits.lower, nats.lower), (bits.upper, nats.upper)]:
        assert a == pytest.approx(b / math.log(2), rel=1e-12)


def test_default_is_the_most_accurate_installed_that_supports_the_sample():
    assert default_estimator() == "learned"  # benchmarks/mi/README.md: why learned, not tcopula
    x, y = task("1v1-halfcube-0.75").sample(500, seed=3)
    result = estimate(x, y)
    assert isinstance(result, Estimate) and result.info["estimator"] == "learned"
    # outside the learned estimator's trained bounds (n < 100, d > 5) the next one, KSG, is used
    small = estimate(x[:60], y[:60])
    wide = estimate(*task("25v25-normal-2pair").sample(300, seed=1))
    assert small.info["estimator"] == "ksg" and wide.info["estimator"] == "ksg"


def test_unknown_estimator_and_parameter_are_named():
    x, y = task("1v1-normal-0.75").sample(50, seed=0)
    with pytest.raises(KeyError, match="did you mean: ksg"):
        estimate(x, y, estimator="kgs")
    with pytest.raises(TypeError, match="has no parameter 'kk'"):
        estimate(x, y, estimator="ksg", kk=3)


def test_to_dict_has_nulls_where_there_is_no_interval():
    x, y = task("1v1-normal-0.75").sample(200, seed=0)
    data = estimate(x, y, estimator="ksg", n_resamples=0).to_dict()
    assert data["lower"] is None and data["upper"] is None and np.isfinite(data["value"])
