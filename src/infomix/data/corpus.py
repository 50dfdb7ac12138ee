"""A named text domain: documents prepared once from pinned sources, cached as jsonl, split by document."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from infomix.core.io import atomic_file, atomic_write_json
from infomix.data.cache import cache_dir, sha256_file
from infomix.data.deps import require
from infomix.data.progress import progress
from infomix.data.sources import Source, fetch
from infomix.data.splits import DEFAULT_FRACTIONS, assign_split, check_fractions, check_split, unit_hash

DOCS = "documents.jsonl"
META = "meta.json"


@dataclass(frozen=True)
class Document:
    """One document of a domain: a stable id (used for its split) and its text."""

    id: str
    text: str


@dataclass(frozen=True)
class Entry:
    """Where a document lives in the prepared file, and how many characters of it to use (None: all)."""

    offset: int
    chars: int | None = None


class Corpus:
    """Base class of the text domains (`data.corpus` components).

    Subclasses set ``name``, ``summary``, ``license``, ``sources`` and implement ``raw_documents``.
    Preparation fetches the sources, builds the documents, and writes them in a fixed pseudo-random
    order (a hash of each id), so ``max_bytes`` keeps a uniform sample of whole documents, the same on
    every machine. Each document's split depends only on its id (`splits.assign_split`).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    license: ClassVar[str] = ""
    sources: ClassVar[tuple[Source, ...]] = ()
    prep_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ()  # optional libraries needed to prepare (checked before fetching)

    def __init__(self, max_bytes: int | None = None, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> None:
        if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive int or None (no cap), got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.fractions = check_fractions(fractions)
        self._index: list[tuple[Entry, str]] | None = None

    # -- to implement --------------------------------------------------------------------------------
    def raw_documents(self, folders: list[Path]) -> Iterator[Document]:
        """Yield the domain's documents from the fetched source folders (one per entry of ``sources``)."""
        raise NotImplementedError

    def source_key(self) -> str:
        """What the prepared cache depends on besides the code version (the pinned sources)."""
        return "+".join(s.key for s in self.sources)

    # -- preparation ---------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return cache_dir("corpora") / f"{self.name}-v{self.prep_version}-{self.source_key()}"

    def is_prepared(self) -> bool:
        return (self.folder / META).is_file() and (self.folder / DOCS).is_file()

    def prepare(self, force: bool = False) -> Path:
        """Fetch the sources and write the documents; a no-op when already cached (unless `force`)."""
        if self.is_prepared() and not force:
            return self.folder
        for module in self.requires:
            require(module, f"the {self.name} domain")
        folders = [fetch(s) for s in self.sources]
        docs: dict[str, str] = {}
        with progress() as bar:
            task = bar.add_task(f"preparing {self.name}", total=None)
            for doc in self.raw_documents(folders):
                if doc.id in docs:
                    raise ValueError(f"{self.name}: duplicate document id {doc.id!r}")
                if doc.text.strip():
                    docs[doc.id] = doc.text
                bar.advance(task)
        order = sorted(docs, key=lambda i: (unit_hash("order", self.name, i), i))
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.folder / DOCS) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for doc_id in order:
                f.write(json.dumps({"id": doc_id, "text": docs[doc_id]}, ensure_ascii=False) + "\n")
        splits = dict.fromkeys(("train", "validation", "test"), 0)
        for doc_id in docs:
            splits[assign_split(self.name, doc_id, DEFAULT_FRACTIONS)] += 1
        meta = {
            "name": self.name,
            "documents": len(docs),
            "bytes": sum(len(t.encode()) for t in docs.values()),
            "splits_at_default_fractions": splits,
            "sha256": sha256_file(self.folder / DOCS),
            "sources": [s.info() | {"cached": True} for s in self.sources],
            **self.extra_meta(),
        }
        atomic_write_json(self.folder / META, meta)
        self._index = None
        return self.folder

    def extra_meta(self) -> dict[str, Any]:
        return {}

    def meta(self) -> dict[str, Any]:
        self.prepare()
        return json.loads((self.folder / META).read_text())

    # -- reading -------------------------------------------------------------------------------------
    def _all_entries(self) -> list[tuple[Entry, str]]:
        """(entry, split) for every document kept under the byte cap, in the prepared order."""
        if self._index is None:
            self.prepare()
            index: list[tuple[Entry, str]] = []
            total = 0
            with open(self.folder / DOCS, "rb") as f:
                offset = 0
                for line in f:
                    row = json.loads(line)
                    size = len(row["text"].encode())
                    chars = None
                    if self.max_bytes is not None:
                        if total >= self.max_bytes:
                            break
                        if total + size > self.max_bytes:
                            if index:
                                break
                            chars = len(row["text"].encode()[: self.max_bytes].decode(errors="ignore"))
                    index.append((Entry(offset, chars), assign_split(self.name, row["id"], self.fractions)))
                    total += size
                    offset += len(line)
            self._index = index
        return self._index

    def entries(self, split: str | None = None) -> list[Entry]:
        """The documents of `split` (None: all) as positions in the prepared file."""
        check_split(split)
        return [e for e, s in self._all_entries() if split is None or s == split]

    def read(self, entry: Entry) -> Document:
        with open(self.folder / DOCS, "rb") as f:
            f.seek(entry.offset)
            row = json.loads(f.readline())
        text = row["text"] if entry.chars is None else row["text"][: entry.chars]
        return Document(row["id"], text)

    def documents(self, split: str | None = None) -> Iterator[Document]:
        """Stream the documents of `split` (None: all), one at a time."""
        wanted = {e.offset: e for e in self.entries(split)}
        if not wanted:
            return
        last = max(wanted)
        with open(self.folder / DOCS, "rb") as f:
            offset = 0
            for line in f:
                entry = wanted.get(offset)
                offset += len(line)
                if entry is not None:
                    row = json.loads(line)
                    text = row["text"] if entry.chars is None else row["text"][: entry.chars]
                    yield Document(row["id"], text)
                if offset > last:
                    break

    def texts(self, split: str | None = None) -> Iterator[str]:
        return (d.text for d in self.documents(split))

    def info(self) -> dict[str, Any]:
        """What `infomix data info` shows: sources, licence, and counts when prepared."""
        data: dict[str, Any] = {
            "name": self.name,
            "kind": "data.corpus",
            "summary": self.summary,
            "license": self.license,
            "sources": [s.info() for s in self.sources],
            "prepared": self.is_prepared(),
            "path": str(self.folder),
        }
        if self.is_prepared():
            meta = json.loads((self.folder / META).read_text())
            data.update({k: meta[k] for k in ("documents", "bytes", "splits_at_default_fractions", "sha256")})
        return data
