"""IR metrics: hand-computed values, trec_eval tie-breaking, ideal/reversed rankings."""

import math

import pytest

from infomix.core.testing import check_ranking_metric
from infomix.retrieval import MRR, NDCG, AveragePrecision, Recall, mean, ranked

QRELS = {"q": {"a": 2, "c": 1, "z": 0}}
RUN = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}}


def test_ndcg_by_hand():
    dcg = 2 / math.log2(2) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert NDCG(k=10)(RUN, QRELS)["q"] == pytest.approx(dcg / idcg)
    exp_dcg = 3 / math.log2(2) + 1 / math.log2(4)
    exp_idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert NDCG(k=10, exponential=True)(RUN, QRELS)["q"] == pytest.approx(exp_dcg / exp_idcg)
    assert NDCG(k=1)(RUN, QRELS)["q"] == pytest.approx(1.0)


def test_recall_mrr_ap_by_hand():
    assert Recall(k=2)(RUN, QRELS)["q"] == pytest.approx(0.5)
    assert Recall(k=3)(RUN, QRELS)["q"] == pytest.approx(1.0)
    assert MRR(k=10)({"q": {"b": 2.0, "c": 1.0}}, QRELS)["q"] == pytest.approx(0.5)
    assert AveragePrecision()(RUN, QRELS)["q"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_ties_break_by_decreasing_doc_id_and_missing_queries_score_zero():
    assert ranked({"d1": 1.0, "d3": 1.0, "d2": 2.0}) == ["d2", "d3", "d1"]
    scores = NDCG()({}, QRELS)
    assert scores == {"q": 0.0}
    assert mean(scores) == 0.0


def test_queries_without_relevant_docs_are_skipped():
    assert NDCG()(RUN, {"q": {"a": 0}}) == {}


@pytest.mark.parametrize("metric", [NDCG(k=3), Recall(k=2), MRR(k=10), AveragePrecision()])
def test_conformance(metric):
    check_ranking_metric(metric)


def test_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        NDCG(k=0)
