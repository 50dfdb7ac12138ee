"""`legal`: licence texts of ScanCode's `licensedcode-data==32.1.0`, YAML header stripped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infomix.data.catalog import LICENSEDCODE, LICENSEDCODE_DATA
from infomix.data.corpus import Corpus, Document


def split_front_matter(text: str) -> tuple[str, str]:
    """Split a ScanCode file into its YAML header (between the first two `---` lines) and its body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "", text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ValueError("unterminated YAML header (no closing '---')")


def header_fields(header: str) -> dict[str, str]:
    """The top-level `key: value` scalars of a ScanCode YAML header (lists and nested values skipped)."""
    fields: dict[str, str] = {}
    for line in header.splitlines():
        if line[:1] in (" ", "\t", "-", "#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        fields[key.strip()] = value
    return fields


def is_yes(value: str | None) -> bool:
    return (value or "").strip().lower() in {"yes", "true"}


class LegalCorpus(Corpus):
    """Legal text: the 2,313 licence texts of ScanCode's licence database (CC-BY-4.0), one per document."""

    name = "legal"
    summary = "licence texts from licensedcode-data 32.1.0 (PyPI), YAML header stripped"
    license = LICENSEDCODE.license
    sources = (LICENSEDCODE,)

    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        for path in sorted((folders[0] / LICENSEDCODE_DATA / "licenses").glob("*.LICENSE")):
            _, body = split_front_matter(path.read_text(encoding="utf-8"))
            yield Document(path.stem, body.strip() + "\n")
