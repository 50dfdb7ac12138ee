"""IR metrics: hand-computed values, trec_eval tie-breaking, ideal/reversed rankings."""

import math
import random

import pytest

from infomix.core.testing import check_ranking_metric
from infomix.retrieval import MRR, NDCG, AveragePrecision, Precision, Recall, mean, ranked

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


def test_recall_precision_mrr_ap_by_hand():
    assert Precision(k=2)(RUN, QRELS)["q"] == pytest.approx(0.5)
    assert Precision(k=10)(RUN, QRELS)["q"] == pytest.approx(0.2)
    assert Recall(k=2)(RUN, QRELS)["q"] == pytest.approx(0.5)
    assert Recall(k=3)(RUN, QRELS)["q"] == pytest.approx(1.0)
    assert MRR(k=10)({"q": {"b": 2.0, "c": 1.0}}, QRELS)["q"] == pytest.approx(0.5)
    assert MRR(k=1)({"q": {"b": 2.0, "c": 1.0}}, QRELS)["q"] == 0.0  # (trec_eval's recip_rank has no cutoff)
    assert AveragePrecision()(RUN, QRELS)["q"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_ties_break_by_decreasing_doc_id_and_missing_queries_score_zero():
    assert ranked({"d1": 1.0, "d3": 1.0, "d2": 2.0}) == ["d2", "d3", "d1"]
    scores = NDCG()({}, QRELS)
    assert scores == {"q": 0.0}
    assert mean(scores) == 0.0


def test_queries_without_relevant_docs_score_zero_and_run_only_queries_are_ignored():
    assert NDCG()(RUN, {"q": {"a": 0}}) == {"q": 0.0}
    assert set(Recall(k=5)({**RUN, "other": {"a": 1.0}}, QRELS)) == {"q"}


def random_case(seed):
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(30):
        docs = [f"d{i}" for i in rng.sample(range(60), 25)]
        qrels[f"q{q}"] = {d: rng.choice([0, 0, 1, 2, 3]) for d in docs[:12]}
        # Coarse scores so that ties are common: tie-breaking must match too.
        run[f"q{q}"] = {d: float(rng.randint(0, 6)) for d in docs[rng.randint(0, 8) :]}
    run.pop("q3")  # a judged query missing from the run
    qrels["q4"] = {"d1": 0}  # a judged query without relevant docs
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_ir_measures(seed):
    ir_measures = pytest.importorskip("ir_measures")
    run, qrels = random_case(seed)
    ours = {"nDCG@10": NDCG(k=10), "P@5": Precision(k=5), "R@20": Recall(k=20), "RR": MRR(k=None),
            "AP": AveragePrecision(), "nDCG": NDCG(k=None)}  # fmt: skip
    theirs_qrels = [ir_measures.Qrel(q, d, g) for q, j in qrels.items() for d, g in j.items()]
    theirs_run = [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    for name, metric in ours.items():
        measure = ir_measures.parse_measure(name)
        provider = ir_measures.pytrec_eval  # trec_eval itself, through pytrec_eval
        expected = {m.query_id: m.value for m in provider.iter_calc([measure], theirs_qrels, theirs_run)}
        got = metric(run, qrels)
        assert set(got) == set(expected), name
        for q in expected:
            assert got[q] == pytest.approx(expected[q], abs=1e-9), (name, q)


@pytest.mark.parametrize("metric", [NDCG(k=3), Recall(k=2), MRR(k=10), AveragePrecision(), Precision(k=1)])
def test_conformance(metric):
    check_ranking_metric(metric)


def test_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        NDCG(k=0)
