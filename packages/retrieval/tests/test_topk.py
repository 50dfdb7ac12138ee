"""Partial-sort top-k against a full sort of the dense score vector, with many ties and short rows."""

import numpy as np
import pytest

from infomix.retrieval.topk import top_k_sparse


@pytest.mark.parametrize("seed", range(40))
def test_top_k_equals_full_sort(seed):
    rng = np.random.default_rng(seed)
    n_docs = int(rng.integers(1, 60))
    n_matched = int(rng.integers(0, n_docs + 1))
    docs = np.sort(rng.choice(n_docs, size=n_matched, replace=False)).astype(np.int32)
    scores = rng.integers(-1, 5, size=n_matched).astype(np.float32)  # many ties, some ≤ 0 (= unmatched)
    k = int(rng.integers(1, n_docs + 1))
    dense = np.zeros(n_docs, dtype=np.float32)
    dense[docs] = np.maximum(scores, 0)
    expected = np.lexsort((np.arange(n_docs), -dense))[:k]
    got_docs, got_scores = top_k_sparse(docs, scores, k)
    np.testing.assert_array_equal(got_docs, expected)
    np.testing.assert_array_equal(got_scores, dense[expected])
