"""A known-item collection from ScanCode's licence data: notice/reference rules as queries, licences as docs."""

from __future__ import annotations

import re
from pathlib import Path

from infomix.data.catalog import LICENSEDCODE, LICENSEDCODE_DATA
from infomix.data.domains.legal import header_fields, is_yes, split_front_matter
from infomix.data.ir.collection import Collection, CollectionDoc
from infomix.data.sources import fetch

SINGLE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")
MIN_WORDS = 5


def build_licence_collection(folder: Path) -> Collection:
    """Docs: the non-deprecated licences that have a text. Queries: rules that are a licence notice or reference,
    name exactly one licence key among the docs, are neither false positives nor deprecated, and have
    at least five words. Each query's one relevant doc (grade 1) is its rule's licence.
    """
    data = folder / LICENSEDCODE_DATA
    docs: dict[str, CollectionDoc] = {}
    for path in sorted((data / "licenses").glob("*.LICENSE")):
        header, body = split_front_matter(path.read_text(encoding="utf-8"))
        fields = header_fields(header)
        if is_yes(fields.get("is_deprecated")) or not body.strip():
            continue  # deprecated keys, and the few licences with no text (nothing to retrieve)
        docs[fields.get("key", path.stem)] = CollectionDoc(fields.get("name", ""), body.strip())
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for path in sorted((data / "rules").glob("*.RULE")):
        header, body = split_front_matter(path.read_text(encoding="utf-8"))
        fields = header_fields(header)
        key = fields.get("license_expression", "").strip()
        if not (is_yes(fields.get("is_license_notice")) or is_yes(fields.get("is_license_reference"))):
            continue
        if is_yes(fields.get("is_false_positive")) or is_yes(fields.get("is_deprecated")):
            continue
        if not SINGLE_KEY.fullmatch(key) or key not in docs:
            continue
        text = " ".join(body.split())
        if len(text.split()) < MIN_WORDS:
            continue
        queries[path.stem] = text
        qrels[path.stem] = {key: 1}
    return Collection(
        "licences", docs, queries, qrels, {"path": str(folder), "source": LICENSEDCODE.describe(), "task": "known-item"}
    )


def load_licence_known_item() -> Collection:
    """Fetch `licensedcode-data==32.1.0` (pinned) if needed and build the known-item collection."""
    return build_licence_collection(fetch(LICENSEDCODE))
