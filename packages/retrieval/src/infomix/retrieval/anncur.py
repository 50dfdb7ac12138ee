"""ANNCUR: k-NN search under a cross-encoder via a CUR decomposition of its score matrix (Yadav et al., 2022).

Offline, a few anchor queries are scored by the cross-encoder against every item: R_anc [k_q, N]. With
anchor items A, U = pinv(R_anc[:, A]) and item embeddings E = U · R_anc [k_i, N]. A test query costs k_i
cross-encoder calls (its scores c against the anchor items), approximates all scores as ŝ = c · E, then
spends a re-ranking budget of k_r more calls on the top k_r items by ŝ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# score_fn(query_ids, item_ids) -> cross-encoder scores [len(query_ids), len(item_ids)]
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Retrieved:
    """Top-k item ids per query (by exact cross-encoder score among re-ranked items) and calls spent."""

    items: np.ndarray
    scores: np.ndarray
    calls: int


class ANNCUR:
    """CUR-approximated cross-encoder retrieval over a fixed item set."""

    def __init__(self, score_fn: ScoreFn, n_items: int, anchor_queries: np.ndarray, n_anchor_items: int, seed: int = 0):
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {n_items}")
        if not 1 <= n_anchor_items <= n_items:
            raise ValueError(f"n_anchor_items must be in [1, {n_items}], got {n_anchor_items}")
        anchor_queries = np.asarray(anchor_queries)
        if anchor_queries.ndim != 1 or anchor_queries.size < 1:
            raise ValueError("anchor_queries must be a non-empty 1-D array of query ids")
        self.score_fn, self.n_items = score_fn, n_items
        rng = np.random.default_rng(seed)
        self.anchor_items = np.sort(rng.choice(n_items, size=n_anchor_items, replace=False))
        anchor_scores = _checked(score_fn(anchor_queries, np.arange(n_items)), (anchor_queries.size, n_items))
        self.offline_calls = anchor_scores.size
        self.item_embeddings = np.linalg.pinv(anchor_scores[:, self.anchor_items]) @ anchor_scores  # [k_i, N]

    def approximate(self, queries: np.ndarray) -> tuple[np.ndarray, int]:
        """Approximate scores [Q, N] of every item, and the cross-encoder calls spent (k_i per query)."""
        queries = np.asarray(queries)
        c = _checked(self.score_fn(queries, self.anchor_items), (queries.size, self.anchor_items.size))
        return c @ self.item_embeddings, c.size

    def search(self, queries: np.ndarray, k: int, rerank: int) -> Retrieved:
        """Top-k items per query after re-ranking the `rerank` best approximate items with the cross-encoder."""
        if not 1 <= k <= rerank <= self.n_items:
            raise ValueError(f"need 1 <= k <= rerank <= n_items ({self.n_items}), got k={k}, rerank={rerank}")
        approx, calls = self.approximate(queries)
        return rerank_top(self.score_fn, np.asarray(queries), approx, k, rerank, calls)


def rerank_top(
    score_fn: ScoreFn, queries: np.ndarray, first_stage: np.ndarray, k: int, rerank: int, calls: int = 0
) -> Retrieved:
    """Re-rank each query's top `rerank` first-stage items with exact scores; keep the best k."""
    candidates = np.argpartition(-first_stage, rerank - 1, axis=1)[:, :rerank]
    exact = np.stack([_checked(score_fn(queries[i : i + 1], c), (1, rerank))[0] for i, c in enumerate(candidates)])
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return Retrieved(np.take_along_axis(candidates, order, 1), np.take_along_axis(exact, order, 1),
                     calls + exact.size)  # fmt: skip


def top_k_recall(found: np.ndarray, exact_scores: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-k (by `exact_scores` [Q, N]) present in `found` [Q, ≥k]."""
    truth = np.argpartition(-exact_scores, k - 1, axis=1)[:, :k]
    return float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found, strict=True)]))


def _checked(scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != shape:
        raise ValueError(f"score_fn returned shape {scores.shape}, expected {shape}")
    if not np.isfinite(scores).all():
        raise ValueError("score_fn returned NaN or infinite scores")
    return scores
