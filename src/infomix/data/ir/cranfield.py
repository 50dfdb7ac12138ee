"""Cranfield 1400 in SMART format: 1,400 aeronautics abstracts, 225 queries, graded judgements."""

from __future__ import annotations

import os
import re
from pathlib import Path

from infomix.data.ir.collection import Collection, CollectionDoc
from infomix.data.ir.paths import find_collection

FIELD = re.compile(r"^\.([ITABW])(?:\s+(\S+))?\s*$")
# Cleverdon's codes: 1 complete answer, 2 high relevance, 3 useful, 4 minimum interest; -1 marks a
# judged document of no interest (one per query). Grades put the best first: higher is more relevant.
GRADES = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}


def parse_smart(text: str) -> list[dict[str, str]]:
    """Records of a SMART file: each starts at `.I <id>`; `.T/.A/.B/.W` open the following fields."""
    records: list[dict[str, str]] = []
    current: dict[str, list[str]] | None = None
    key = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        m = FIELD.match(line)
        if m and m.group(1) == "I":
            if m.group(2) is None:
                raise ValueError(f"SMART record without an id: {line!r}")
            current = {"I": [m.group(2)]}
            records.append(current)  # type: ignore[arg-type]
            key = None
        elif m and m.group(2) is None and current is not None:
            key = m.group(1)
            current.setdefault(key, [])
        elif current is not None and key is not None:
            current[key].append(line)
        elif line.strip():
            raise ValueError(f"SMART text outside a record: {line!r}")
    return [{k: (v[0] if k == "I" else " ".join(" ".join(v).split())) for k, v in r.items()} for r in records]


def load_cranfield(path: str | os.PathLike[str] | None = None) -> Collection:
    """Load Cranfield from `path` (default: see `find_collection`; `shared/data/cranfield`).

    Files: cran.all.1400 (docs), cran.qry (queries), cranqrel (`query doc code`). The query numbers
    in cranqrel are the queries' positions (1..225) in cran.qry, not their `.I` numbers (which skip);
    query ids here are those positions. Grades map Cleverdon's codes so higher is better
    (code 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1, -1 -> 0).
    """
    folder = find_collection("cranfield", path)
    docs = {}
    for r in parse_smart(_read(folder / "cran.all.1400")):
        docs[r["I"]] = CollectionDoc(r.get("T", ""), r.get("W", ""))
    query_records = parse_smart(_read(folder / "cran.qry"))
    queries = {str(i): r.get("W", "") for i, r in enumerate(query_records, start=1)}
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(_read(folder / "cranqrel").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"cranqrel line {n}: expected 'query doc code', got {line!r}")
        qid, doc_id, code = parts[0], parts[1], int(parts[2])
        if code not in GRADES:
            raise ValueError(f"cranqrel line {n}: unknown relevance code {code}")
        if doc_id in qrels.get(qid, {}):
            raise ValueError(f"cranqrel line {n}: ({qid}, {doc_id}) judged twice")
        qrels.setdefault(qid, {})[doc_id] = GRADES[code]
    info = {"path": str(folder), "query_smart_ids": [r["I"] for r in query_records]}
    return Collection("cranfield", docs, queries, qrels, info)


def _read(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"Cranfield file missing: {path}")
    return path.read_text(encoding="utf-8", errors="replace")
