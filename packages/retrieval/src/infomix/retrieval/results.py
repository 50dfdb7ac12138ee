"""Ranked search results: per-query doc indices and scores, with the index's doc ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchResults:
    """``indices[q, r]`` is the doc at rank r for query q and ``scores[q, r]`` its score (best first)."""

    indices: np.ndarray
    scores: np.ndarray
    doc_ids: Sequence[str]

    def __len__(self) -> int:
        return self.indices.shape[0]

    def ids(self) -> list[list[str]]:
        """The ranked doc ids of every query."""
        return [[self.doc_ids[i] for i in row] for row in self.indices.tolist()]

    def to_run(self, query_ids: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        """A run ``{query id: {doc id: score}}`` as the metrics take it (query ids default to "0", "1", ...)."""
        if query_ids is None:
            query_ids = [str(q) for q in range(len(self))]
        if len(query_ids) != len(self):
            raise ValueError(f"query_ids has {len(query_ids)} entries for {len(self)} queries")
        return {
            qid: dict(zip((self.doc_ids[i] for i in row), map(float, scores), strict=True))
            for qid, row, scores in zip(query_ids, self.indices.tolist(), self.scores.tolist(), strict=True)
        }
