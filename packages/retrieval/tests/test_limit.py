"""LIMIT: qrel patterns, the generated collection's structure, and the free-embedding limit."""

import math

import numpy as np
import pytest

from infomix.retrieval.free_embedding import published_critical_n, solve_free_embedding
from infomix.retrieval.limit import dense_docs_needed, generate, items, names, qrel_matrix


def test_dense_pattern_uses_the_fewest_documents_and_distinct_pairs():
    assert dense_docs_needed(1000, 2) == 46  # C(46, 2) = 1035 >= 1000 > C(45, 2) = 990
    m = qrel_matrix(1000, 2, "dense")
    assert m.shape == (1000, 46) and (m.sum(axis=1) == 2).all()
    assert len({tuple(np.flatnonzero(r)) for r in m}) == 1000


@pytest.mark.parametrize("pattern", ["random", "cycle", "disjoint"])
def test_other_patterns_have_k_relevant_each(pattern):
    m = qrel_matrix(30, 3, pattern, n_docs=90, seed=4)
    assert (m.sum(axis=1) == 3).all()
    if pattern == "disjoint":
        assert (m.sum(axis=0) <= 1).all()
    if pattern == "cycle":
        assert m[29, [29 % 90, 30, 31]].all()


def test_generated_collection_matches_its_qrels():
    coll = generate(n_queries=60, k=2, items_per_doc=15)
    assert len(coll.docs) == dense_docs_needed(60, 2)
    for qid, query in coll.queries.items():
        item = query.removeprefix("Who likes ").removesuffix("?")
        holders = {d for d, text in coll.docs.items() if item in text.split(" likes ", 1)[1].rstrip(".").split(", ")}
        assert holders == set(coll.qrels[qid]), qid  # the asked item is in exactly the relevant docs
    assert all(len(t.split(", ")) >= 15 for t in coll.docs.values())
    assert generate(n_queries=60, k=2, items_per_doc=15).docs == coll.docs  # deterministic


def test_word_lists_are_deterministic_and_bounded():
    assert names(5) == names(5) and len(set(names(100))) == 100
    assert len(set(items(1000))) == 1000
    with pytest.raises(ValueError, match="at most"):
        items(10**6)


def test_dense_pairs_defeat_two_dimensions_but_not_sixteen():
    dense = qrel_matrix(math.comb(8, 2), 2, "dense")
    assert solve_free_embedding(dense, 16, max_steps=400).solved
    low = solve_free_embedding(dense, 2, max_steps=400)
    assert not low.solved and low.accuracy < 0.5
    # The same dimension serves an easy pattern with as many relevant pairs per query.
    assert solve_free_embedding(qrel_matrix(3, 2, "disjoint"), 2, max_steps=400).solved


def test_published_fit_and_validation():
    assert published_critical_n(512) == pytest.approx(500_000, rel=0.05)  # "~500k documents at d = 512"
    with pytest.raises(ValueError, match="pattern"):
        qrel_matrix(10, 2, "spiral")
    with pytest.raises(ValueError, match="n_docs"):
        qrel_matrix(10, 2, "disjoint", n_docs=5)
