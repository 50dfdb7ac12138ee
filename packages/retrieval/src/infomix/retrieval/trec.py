"""TREC run files: `qid Q0 docid rank score tag`, top-k per query, ties broken deterministically."""

from __future__ import annotations

import os
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


def read_run(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Read a TREC run file into {qid: {doc id: score}}; a malformed line is an error naming file and line."""
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                qid, _, doc, _, score = fields[:5]
                run.setdefault(qid, {})[doc] = float(score)
            except ValueError as exc:
                raise ValueError(
                    f"{path}:{number}: expected 'qid Q0 docid rank score tag', got {line.strip()!r}"
                ) from exc
    return run


def read_qrels(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file (`qid iteration docid grade`) into {qid: {doc id: grade}}."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                qid, _, doc, grade = fields
                qrels.setdefault(qid, {})[doc] = int(grade)
            except ValueError as exc:
                raise ValueError(
                    f"{path}:{number}: expected 'qid iteration docid grade', got {line.strip()!r}"
                ) from exc
    return qrels
