"""ANNCUR: exact recovery of low-rank score matrices, budget accounting, beating a weak first stage."""

import numpy as np
import pytest

from infomix.retrieval.anncur import ANNCUR, rerank_top, top_k_recall


def low_rank_scores(n_queries, n_items, rank, noise, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n_queries, rank)) @ rng.standard_normal((rank, n_items))
    return matrix + noise * rng.standard_normal(matrix.shape)


def as_score_fn(matrix):
    return lambda q, i: matrix[np.ix_(np.asarray(q), np.asarray(i))]


def test_rank_r_matrix_is_recovered_exactly_with_enough_anchors():
    scores = low_rank_scores(300, 500, rank=8, noise=0.0, seed=0)
    index = ANNCUR(as_score_fn(scores), 500, anchor_queries=np.arange(40), n_anchor_items=20)
    test = np.arange(100, 300)
    approx, calls = index.approximate(test)
    np.testing.assert_allclose(approx, scores[test], atol=1e-8)
    assert calls == 200 * 20
    found = index.search(test, k=10, rerank=10)
    assert top_k_recall(found.items, scores[test], 10) == 1.0
    assert found.calls == 200 * (20 + 10)
    np.testing.assert_allclose(found.scores, -np.sort(-scores[test], axis=1)[:, :10])


def test_beats_a_noisy_first_stage_at_equal_budget():
    scores = low_rank_scores(400, 1000, rank=16, noise=0.3, seed=1)
    test = np.arange(200, 400)
    index = ANNCUR(as_score_fn(scores), 1000, anchor_queries=np.arange(100), n_anchor_items=50)
    ours = index.search(test, k=10, rerank=50)
    weak_first_stage = scores[test] + 3.0 * np.random.default_rng(2).standard_normal((200, 1000))
    baseline = rerank_top(as_score_fn(scores), test, weak_first_stage, k=10, rerank=100)
    assert ours.calls == baseline.calls  # 50 anchors + 50 re-ranked vs 100 re-ranked
    assert top_k_recall(ours.items, scores[test], 10) > top_k_recall(baseline.items, scores[test], 10) + 0.1


def test_validation():
    scores = low_rank_scores(10, 30, 2, 0.0, 0)
    with pytest.raises(ValueError, match="n_anchor_items"):
        ANNCUR(as_score_fn(scores), 30, np.arange(5), n_anchor_items=40)
    index = ANNCUR(as_score_fn(scores), 30, np.arange(5), n_anchor_items=5)
    with pytest.raises(ValueError, match="rerank"):
        index.search(np.arange(5, 10), k=10, rerank=5)
    with pytest.raises(ValueError, match="shape"):
        ANNCUR(lambda q, i: np.zeros((1, 1)), 30, np.arange(5), n_anchor_items=5)
    bad = scores.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ANNCUR(as_score_fn(bad), 30, np.arange(5), n_anchor_items=5)
