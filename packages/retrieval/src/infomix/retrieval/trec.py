"""TREC run files: `qid Q0 docid rank score tag`, top-k per query, ties broken deterministically."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from infomix.core.io import atomic_write_text
from infomix.retrieval.metrics import Run, ranked


def write_run(run: Run, path: str | os.PathLike[str], tag: str = "infomix", k: int | None = None) -> Path:
    """Write `run` atomically; ranks follow decreasing score, ties by decreasing doc id (trec_eval's order)."""
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"tag must be a non-empty word without spaces, got {tag!r}")
    lines = []
    for qid in sorted(run):
        scores = run[qid]
        for rank, doc in enumerate(ranked(scores, k), start=1):
            if any(c.isspace() for c in qid + doc):
                raise ValueError(f"query and doc ids must not contain spaces: {qid!r}, {doc!r}")
            lines.append(f"{qid} Q0 {doc} {rank} {scores[doc]:.6f} {tag}\n")
    return atomic_write_text(path, "".join(lines))


def _rows(path: str | os.PathLike[str], width: int, expected: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, line, fields) of each non-blank line; fewer than `width` fields is an error naming the line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < width:
                raise ValueError(f"{path}:{number}: expected {expected!r}, got {line.strip()!r}")
            yield number, line, fields


def read_run(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Read a TREC run file into {qid: {doc id: score}}; a malformed line is an error naming file and line."""
    expected = "qid Q0 docid rank score tag"
    run: dict[str, dict[str, float]] = {}
    for number, line, (qid, _, doc, _, score, *_) in _rows(path, 5, expected):
        try:
            run.setdefault(qid, {})[doc] = float(score)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: expected {expected!r}, got {line.strip()!r}") from exc
    return run


def read_qrels(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file (`qid iteration docid grade`) into {qid: {doc id: grade}}."""
    expected = "qid iteration docid grade"
    qrels: dict[str, dict[str, int]] = {}
    for number, line, (qid, _, doc, grade, *_) in _rows(path, 4, expected):
        try:
            qrels.setdefault(qid, {})[doc] = int(grade)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: expected {expected!r}, got {line.strip()!r}") from exc
    return qrels
