"""BEIR-format collections (corpus.jsonl, queries.jsonl, qrels as jsonl or tsv) and LIMIT-small."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infomix.data.ir.collection import Collection, CollectionDoc
from infomix.data.ir.paths import find_collection


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path.name} line {n}: not JSON ({exc})") from exc


def _qrel_rows(folder: Path, split: str) -> Iterator[tuple[str, str, int]]:
    if (folder / "qrels.jsonl").is_file():
        for row in _jsonl(folder / "qrels.jsonl"):
            yield str(row["query-id"]), str(row["corpus-id"]), int(row["score"])
        return
    tsv = folder / "qrels" / f"{split}.tsv"
    if not tsv.is_file():
        raise FileNotFoundError(f"{folder}: no qrels.jsonl and no qrels/{split}.tsv")
    with open(tsv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            yield str(row["query-id"]), str(row["corpus-id"]), int(row["score"])


def load_beir(path: str | os.PathLike[str], name: str | None = None, split: str = "test") -> Collection:
    """Load a BEIR-format folder: corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`),
    and qrels.jsonl (`query-id`, `corpus-id`, `score`) or qrels/<split>.tsv with the same columns.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"BEIR collection: path {str(folder)!r} is not a folder")
    docs = {
        str(r["_id"]): CollectionDoc(r.get("title") or "", r.get("text") or "") for r in _jsonl(folder / "corpus.jsonl")
    }
    queries = {str(r["_id"]): r.get("text") or "" for r in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    for qid, doc_id, score in _qrel_rows(folder, split):
        qrels.setdefault(qid, {})[doc_id] = score
    return Collection(name or folder.name, docs, queries, qrels, {"path": str(folder)})


def load_limit_small(path: str | os.PathLike[str] | None = None) -> Collection:
    """LIMIT-small (46 people, 1,000 'Who likes X?' queries, 2 relevant people each; CC-BY-4.0)."""
    return load_beir(find_collection("limit-small", path), name="limit-small")
