"""The shape every IR collection has: docs, queries and qrels (query id -> {doc id: grade})."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CollectionDoc:
    """A document of a collection: an optional title and its text."""

    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and text joined by a blank line (just the text when there is no title)."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass
class Collection:
    """An IR test collection.

    ``qrels[qid][doc_id]`` is an integer grade: higher is more relevant and 0 means judged not
    relevant; unjudged documents are absent. Every qrel names a known query and document.
    """

    name: str
    docs: dict[str, CollectionDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for qid, judged in self.qrels.items():
            if qid not in self.queries:
                raise ValueError(f"{self.name}: qrels name unknown query {qid!r}")
            for doc_id, grade in judged.items():
                if doc_id not in self.docs:
                    raise ValueError(f"{self.name}: qrels of query {qid!r} name unknown document {doc_id!r}")
                if not isinstance(grade, int):
                    raise TypeError(f"{self.name}: grade of ({qid!r}, {doc_id!r}) must be an int, got {grade!r}")

    @property
    def n_judgements(self) -> int:
        return sum(len(j) for j in self.qrels.values())

    def relevant(self, qid: str, min_grade: int = 1) -> set[str]:
        """The documents of query `qid` judged at least `min_grade`."""
        return {d for d, g in self.qrels.get(qid, {}).items() if g >= min_grade}

    def summary(self) -> dict[str, Any]:
        grades: dict[int, int] = {}
        for judged in self.qrels.values():
            for g in judged.values():
                grades[g] = grades.get(g, 0) + 1
        return {
            "name": self.name,
            "documents": len(self.docs),
            "queries": len(self.queries),
            "judged_queries": len(self.qrels),
            "judgements": self.n_judgements,
            "grades": dict(sorted(grades.items())),
            **self.info,
        }
