"""Ranking metrics with trec_eval's conventions: nDCG@k, P@k, Recall@k, MRR@k and average precision.

Every query in the qrels is scored: one with no relevant document, or missing from the run, scores 0
(as `trec_eval -c` and `ir-measures` do); queries only in the run are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from infomix.core.hookspecs import hookimpl

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float], k: int | None = None) -> list[str]:
    """Doc ids by decreasing score; ties broken by decreasing doc id, as trec_eval does."""
    order = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return [doc for doc, _ in order[:k]]


def _check_k(k: int | None) -> None:
    if k is not None and (not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be a positive integer or None, got {k!r}")


def _per_query(run: Run, qrels: Qrels, score: Callable[[list[str], Mapping[str, int]], float]) -> dict[str, float]:
    """Score every query of the qrels: 0 without a relevant doc or when missing from the run."""
    results = {}
    for query, judgements in qrels.items():
        relevant = any(g > 0 for g in judgements.values())
        results[query] = score(ranked(run.get(query, {})), judgements) if relevant else 0.0
    return results


class _RankingMetric:
    """Shared call: score every judged query's ranking with the subclass's `_score(docs, judgements)`."""

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        raise NotImplementedError

    def __call__(self, run: Run, qrels: Qrels) -> dict[str, float]:
        return _per_query(run, qrels, self._score)


class NDCG(_RankingMetric):
    """Normalised discounted cumulative gain at cutoff k: Σ gain_i / log2(i + 1) over the ideal ordering's.

    Gains are the relevance grades (linear, trec_eval's ``ndcg_cut``); ``exponential=True`` uses 2^g − 1.
    """

    def __init__(self, k: int | None = 10, exponential: bool = False) -> None:
        _check_k(k)
        self.k, self.exponential = k, exponential

    def _gain(self, grade: int) -> float:
        return float(2**grade - 1) if self.exponential else float(grade)

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        dcg = sum(self._gain(max(judgements.get(d, 0), 0)) / math.log2(i + 2) for i, d in enumerate(docs[: self.k]))
        ideal = sorted((g for g in judgements.values() if g > 0), reverse=True)[: self.k]
        idcg = sum(self._gain(g) / math.log2(i + 2) for i, g in enumerate(ideal))
        return dcg / idcg


class Precision(_RankingMetric):
    """Precision@k: relevant docs (grade ≥ ``min_grade``) among the top k, divided by k (trec_eval's P_k)."""

    def __init__(self, k: int = 10, min_grade: int = 1) -> None:
        _check_k(k)
        self.k, self.min_grade = k, min_grade

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        return sum(judgements.get(d, 0) >= self.min_grade for d in docs[: self.k]) / self.k


class Recall(_RankingMetric):
    """Fraction of a query's relevant docs (grade ≥ ``min_grade``) retrieved in the top k."""

    def __init__(self, k: int | None = 100, min_grade: int = 1) -> None:
        _check_k(k)
        self.k, self.min_grade = k, min_grade

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        relevant = {d for d, g in judgements.items() if g >= self.min_grade}
        return len(relevant.intersection(docs[: self.k])) / len(relevant) if relevant else 0.0


class MRR(_RankingMetric):
    """Reciprocal rank of the first relevant doc (grade ≥ ``min_grade``) within the top k, else 0."""

    def __init__(self, k: int | None = 10, min_grade: int = 1) -> None:
        _check_k(k)
        self.k, self.min_grade = k, min_grade

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        for i, d in enumerate(docs[: self.k]):
            if judgements.get(d, 0) >= self.min_grade:
                return 1.0 / (i + 1)
        return 0.0


class AveragePrecision(_RankingMetric):
    """Average precision (its mean over queries is MAP): mean of precision@rank at each relevant doc."""

    def __init__(self, k: int | None = None, min_grade: int = 1) -> None:
        _check_k(k)
        self.k, self.min_grade = k, min_grade

    def _score(self, docs: list[str], judgements: Mapping[str, int]) -> float:
        relevant = {d for d, g in judgements.items() if g >= self.min_grade}
        hits, total = 0, 0.0
        for i, d in enumerate(docs[: self.k]):
            if d in relevant:
                hits += 1
                total += hits / (i + 1)
        return total / len(relevant) if relevant else 0.0


def mean(scores: Mapping[str, float]) -> float:
    """The mean over queries (0 for no queries)."""
    return sum(scores.values()) / len(scores) if scores else 0.0


@hookimpl
def register_components(register: Any) -> None:
    register("retrieval.metric", "ndcg", NDCG)
    register("retrieval.metric", "precision", Precision)
    register("retrieval.metric", "recall", Recall)
    register("retrieval.metric", "mrr", MRR)
    register("retrieval.metric", "ap", AveragePrecision)
