"""Fusion: RRF by hand, agreement across runs wins, invariance of normalised fusion to score scale."""

import pytest

from infomix.retrieval import ranked
from infomix.retrieval.fusion import reciprocal_rank_fusion, score_fusion

SPARSE = {"q": {"a": 12.0, "b": 7.5, "c": 1.0}}
DENSE = {"q": {"c": 0.91, "a": 0.88, "d": 0.10}}


def test_rrf_by_hand():
    fused = reciprocal_rank_fusion([SPARSE, DENSE], k=60)["q"]
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62) and fused["d"] == pytest.approx(1 / 63)
    assert ranked(fused)[:2] == ["a", "c"]
    only_top1 = reciprocal_rank_fusion([SPARSE, DENSE], depth=1)["q"]
    assert set(only_top1) == {"a", "c"}
    weighted = reciprocal_rank_fusion([SPARSE, DENSE], weights=[0.0, 1.0])["q"]
    assert ranked(weighted)[0] == "c"


@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
def test_score_fusion_ignores_each_runs_scale_and_offset(normalisation):
    base = score_fusion([SPARSE, DENSE], normalisation)
    rescaled = {"q": {d: 1000 * s - 3 for d, s in SPARSE["q"].items()}}
    again = score_fusion([rescaled, DENSE], normalisation)
    for doc, value in base["q"].items():
        assert again["q"][doc] == pytest.approx(value)


def test_minmax_values():
    fused = score_fusion([SPARSE], "minmax")["q"]
    assert fused == pytest.approx({"a": 1.0, "b": 6.5 / 11, "c": 0.0})


def test_validation():
    with pytest.raises(ValueError, match="at least one run"):
        reciprocal_rank_fusion([])
    with pytest.raises(ValueError, match="weights"):
        score_fusion([SPARSE, DENSE], weights=[1.0])
    with pytest.raises(ValueError, match="normalisation"):
        score_fusion([SPARSE], "softmax")
