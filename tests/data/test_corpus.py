"""The Corpus base: preparation, document-level splits, the byte cap, streaming reads."""

from __future__ import annotations

import json
import random
import string

import pytest

from infomix.data.corpus import Corpus, Document
from infomix.data.splits import assign_split


def _random_docs(n, rng):
    return [
        Document(
            f"doc-{i:04d}-{rng.randrange(10**6)}",
            "".join(rng.choices(string.ascii_letters + " \n", k=rng.randint(20, 400))),
        )
        for i in range(n)
    ]


def make_corpus(name, docs):
    class Synthetic(Corpus):
        summary = "synthetic"

        def raw_documents(self, folders):
            yield from docs

    Synthetic.name = name
    return Synthetic


@pytest.fixture
def docs():
    return _random_docs(300, random.Random())


def test_prepare_writes_every_document_once(cache, docs):
    corpus = make_corpus("syn", docs)()
    folder = corpus.prepare()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["documents"] == len(docs)
    assert meta["bytes"] == sum(len(d.text.encode()) for d in docs)
    got = {d.id: d.text for d in corpus.documents()}
    assert got == {d.id: d.text for d in docs}


def test_splits_partition_documents_by_id(cache, docs):
    corpus = make_corpus("syn", docs)(fractions=(0.6, 0.2, 0.2))
    by_split = {s: {d.id for d in corpus.documents(s)} for s in ("train", "validation", "test")}
    assert set().union(*by_split.values()) == {d.id for d in docs}
    assert sum(len(v) for v in by_split.values()) == len(docs)
    for split, ids in by_split.items():
        assert all(assign_split("syn", i, (0.6, 0.2, 0.2)) == split for i in ids)


def test_preparation_is_independent_of_input_order(cache, docs, tmp_path, monkeypatch):
    a = make_corpus("syn", docs)()
    text_a = (a.prepare() / "documents.jsonl").read_bytes()
    shuffled = docs[:]
    random.shuffle(shuffled)
    monkeypatch.setenv("INFOMIX_CACHE", str(tmp_path / "other"))
    b = make_corpus("syn", shuffled)()
    assert (b.prepare() / "documents.jsonl").read_bytes() == text_a


def test_byte_cap_keeps_a_prefix_of_whole_documents(cache, docs):
    full = make_corpus("syn", docs)()
    order = [d.id for d in full.documents()]
    cap = sum(len(d.text.encode()) for d in docs) // 3
    capped = make_corpus("syn", docs)(max_bytes=cap)
    kept = [d.id for d in capped.documents()]
    assert kept == order[: len(kept)]
    size = sum(len(d.text.encode()) for d in capped.documents())
    next_doc = next(d for d in full.documents() if d.id == order[len(kept)])
    assert size <= cap < size + len(next_doc.text.encode())
    # every split of the capped corpus is a subset of the same split uncapped
    for split in ("train", "validation", "test"):
        assert {d.id for d in capped.documents(split)} <= {d.id for d in full.documents(split)}


def test_tiny_cap_truncates_the_first_document(cache, docs):
    corpus = make_corpus("syn", docs)(max_bytes=7)
    got = list(corpus.documents())
    assert len(got) == 1
    assert len(got[0].text.encode()) <= 7
    assert got[0].text
    first = next(make_corpus("syn", docs)().documents())
    assert first.text.startswith(got[0].text)


def test_entries_and_read_agree_with_streaming(cache, docs):
    corpus = make_corpus("syn", docs)()
    assert [corpus.read(e) for e in corpus.entries("test")] == list(corpus.documents("test"))


def test_empty_documents_dropped_and_duplicates_rejected(cache, docs):
    corpus = make_corpus("syn", [*docs, Document("blank", "  \n ")])()
    assert "blank" not in {d.id for d in corpus.documents()}
    with pytest.raises(ValueError, match="duplicate document id"):
        make_corpus("dup", [*docs, docs[0]])().prepare()


@pytest.mark.parametrize("cap", [0, -5, 1.5])
def test_bad_cap(cap):
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        make_corpus("syn", [])(max_bytes=cap)
