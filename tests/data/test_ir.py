"""IR collections on the real files: Cranfield (SMART), LIMIT-small and generic BEIR, licence known-item."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from infomix.data.ir import Collection, CollectionDoc, load_beir, load_cranfield, load_limit_small
from infomix.data.ir.cranfield import GRADES, parse_smart
from infomix.data.ir.paths import find_collection


def _shared(name):
    try:
        return find_collection(name)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cranfield():
    return load_cranfield(_shared("cranfield"))


def test_cranfield_counts(cranfield):
    s = cranfield.summary()
    assert (s["documents"], s["queries"], s["judged_queries"]) == (1400, 225, 225)
    # 1,837 judgement lines (`wc -l` shows 1,836 because the last line has no newline)
    assert s["judgements"] == 1837
    raw = (_shared("cranfield") / "cranqrel").read_text().split("\n")
    assert len([r for r in raw if r.strip()]) == 1837


def test_cranfield_grades_follow_the_codes(cranfield):
    raw = [line.split() for line in (_shared("cranfield") / "cranqrel").read_text().splitlines() if line.strip()]
    code_counts = Counter(int(r[2]) for r in raw)
    grade_counts = Counter(g for judged in cranfield.qrels.values() for g in judged.values())
    assert {GRADES[c]: n for c, n in code_counts.items()} == dict(grade_counts)
    for qid, doc_id, code in random.sample(raw, 50):
        assert cranfield.qrels[qid][doc_id] == GRADES[int(code)]


def test_cranfield_qrel_ids_are_query_positions(cranfield):
    smart_ids = cranfield.info["query_smart_ids"]
    assert len(smart_ids) == 225
    assert smart_ids[:4] == ["001", "002", "004", "008"]
    assert int(smart_ids[-1]) > 225  # the .I numbers skip, so they cannot be the qrel ids
    # query 3 of the qrels is the third query in the file (.I 004), about heat conduction in slabs
    assert cranfield.queries["3"].startswith("what problems of heat conduction in composite slabs")
    assert set(cranfield.qrels) == set(cranfield.queries) == {str(i) for i in range(1, 226)}


def test_cranfield_documents(cranfield):
    first = cranfield.docs["1"]
    assert first.title == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    assert first.text.startswith("experimental investigation of the aerodynamics")
    assert "destalling" in first.text
    assert set(cranfield.docs) == {str(i) for i in range(1, 1401)}
    assert sorted(i for i, d in cranfield.docs.items() if not d.text) == ["471", "995"]  # empty in the source


def test_parse_smart_on_a_built_file():
    text = ".I 7\r\n.T\r\nA title\r\n.W\r\nfirst line\r\n  second\r\n.I 9\r\n.W\r\nonly body\r\n"
    assert parse_smart(text) == [{"I": "7", "T": "A title", "W": "first line second"}, {"I": "9", "W": "only body"}]
    with pytest.raises(ValueError, match="outside a record"):
        parse_smart("stray\n.I 1\n")


def test_limit_small_counts():
    c = load_limit_small(_shared("limit-small"))
    assert (len(c.docs), len(c.queries), c.n_judgements) == (46, 1000, 2000)
    assert all(len(judged) == 2 and set(judged.values()) == {1} for judged in c.qrels.values())
    q = c.queries["query_0"]
    assert q.startswith("Who likes ")
    liked = q.removeprefix("Who likes ").rstrip("?")
    assert all(liked in c.docs[d].text for d in c.relevant("query_0"))


def _write_jsonl(path: Path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_beir_loader_with_tsv_qrels(tmp_path):
    _write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "d1", "title": "T", "text": "x"}, {"_id": "d2", "text": "y"}])
    _write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "find x"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")
    c = load_beir(tmp_path, name="tiny")
    assert c.docs == {"d1": CollectionDoc("T", "x"), "d2": CollectionDoc("", "y")}
    assert c.qrels == {"q1": {"d1": 2, "d2": 0}}
    assert c.relevant("q1") == {"d1"}
    assert c.docs["d1"].full_text == "T\n\nx"


def test_collection_rejects_dangling_qrels():
    with pytest.raises(ValueError, match="unknown document 'nope'"):
        Collection("c", {"d": CollectionDoc("", "t")}, {"q": "x"}, {"q": {"nope": 1}})
    with pytest.raises(ValueError, match="unknown query 'z'"):
        Collection("c", {"d": CollectionDoc("", "t")}, {"q": "x"}, {"z": {"d": 1}})


def test_missing_collection_path_is_explained(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_cranfield(tmp_path / "absent")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFOMIX_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="set INFOMIX_DATA"):
        find_collection("no-such-collection")


def test_infomix_data_env_is_searched_first(tmp_path, monkeypatch):
    (tmp_path / "limit-small").mkdir()
    monkeypatch.setenv("INFOMIX_DATA", str(tmp_path))
    assert find_collection("limit-small") == tmp_path / "limit-small"


@pytest.mark.network
def test_licence_known_item_collection(real_cache):
    from infomix.data.ir import load_licence_known_item

    from .conftest import fetch_or_skip

    c = fetch_or_skip(load_licence_known_item)
    assert (len(c.docs), len(c.queries)) == (2150, 13237)
    assert all(len(j) == 1 and list(j.values()) == [1] for j in c.qrels.values())
    assert all(c.docs[d].text for d in c.docs)
    # a reference rule mentioning the MIT licence points at the `mit` licence text
    mit_queries = [q for q, j in c.qrels.items() if "mit" in j]
    assert len(mit_queries) > 10
    assert "Permission is hereby granted" in c.docs["mit"].text
