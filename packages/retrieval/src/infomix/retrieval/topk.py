"""Top-k of a sparse score row by partial sort, ties broken by increasing doc index (as Lucene does)."""

from __future__ import annotations

import numpy as np


def top_k_sparse(docs: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (doc, score) pairs of one query, best first, given the docs it matched; all others score 0.

    ``docs`` must be increasing (a canonical CSR row); entries with score ≤ 0 count as unmatched. The k-th best
    score is found by ``np.partition`` (O(n)) and only the kept entries are sorted. Equal scores are ordered by
    increasing doc index; when fewer than k docs score above 0, the lowest-indexed unmatched docs follow with
    score 0. ``k`` must not exceed the number of docs in the index.
    """
    positive = scores > 0
    if not positive.all():
        docs, scores = docs[positive], scores[positive]
    n = scores.shape[0]
    if n > k:
        threshold = np.partition(scores, n - k)[n - k]
        keep = scores > threshold
        tied = np.flatnonzero(scores == threshold)
        keep[tied[: k - int(np.count_nonzero(keep))]] = True
        docs, scores = docs[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    docs, scores = docs[order], scores[order]
    if n < k:
        need = k - n
        taken = np.zeros(k, dtype=bool)
        taken[docs[docs < k]] = True
        docs = np.concatenate([docs, np.flatnonzero(~taken)[:need]])
        scores = np.concatenate([scores, np.zeros(need, dtype=scores.dtype)])
    return docs, scores
