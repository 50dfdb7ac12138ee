"""The six text domains: parsers on built inputs, `code` on the local stdlib, the others on real fetches."""

from __future__ import annotations

import re

import pytest

from infomix.data.domains import DOMAINS, get_domain
from infomix.data.domains.code import EXCLUDED_DIRS, CodeCorpus
from infomix.data.domains.dialogue import split_acts
from infomix.data.domains.legal import header_fields, is_yes, split_front_matter
from infomix.data.domains.math import cut_proofs, split_sections
from infomix.data.domains.prose import split_chapters

from .conftest import fetch_or_skip


def test_front_matter_split_and_fields():
    text = (
        "---\nkey: mit\nname: 'MIT License'\nis_deprecated: yes\nignorable_urls:\n    - http://x\n---\nPermission is\n"
    )
    header, body = split_front_matter(text)
    assert body == "Permission is\n"
    fields = header_fields(header)
    assert fields == {"key": "mit", "name": "MIT License", "is_deprecated": "yes", "ignorable_urls": ""}
    assert is_yes(fields["is_deprecated"])
    assert not is_yes(fields.get("is_license_notice"))
    assert split_front_matter("no header\n") == ("", "no header\n")
    with pytest.raises(ValueError, match="unterminated"):
        split_front_matter("---\nkey: x\n")


def test_split_acts():
    play = "TITLE\n\nPERSONS\n\nACT I.\n\nScene 1\nA.\nhi\n\nACT II.\nB.\nbye\n\nACT III.\nC.\nend\n"
    acts = split_acts(play)
    assert len(acts) == 3
    assert "".join(acts) == play
    assert acts[0].startswith("TITLE")
    assert acts[1].startswith("ACT II.")
    assert acts[2].startswith("ACT III.")
    assert split_acts("a play without act headings\n") == ["a play without act headings\n"]


def test_cut_proofs_keeps_statements():
    mm = "$( comment $)\nax-1 $a |- ( ph -> ps ) $.\nth1 $p |- ph $=\n  ( wi ax-1 ) ABCD $.\nth2 $p |- ps $= ? $.\n"
    out = cut_proofs(mm)
    assert "ABCD" not in out
    assert "wi ax-1" not in out
    assert out.count("$= ... $.") == 2
    assert "ax-1 $a |- ( ph -> ps ) $." in out
    assert "$( comment $)" in out


def test_split_sections():
    deco = "#*#*#*#*#*#*#*#*"
    sub = "=-=-=-=-=-"
    mm = f"preamble $( x $)\n$(\n{deco}\n  Pre-logic\n{deco}\n$)\nfoo $.\n$(\n{sub}\n  Sub one\n{sub}\n$)\nbar $.\n"
    pieces = split_sections(mm)
    assert [t for t, _ in pieces] == ["preamble", "Pre-logic", "Sub one"]
    assert "".join(p for _, p in pieces) == mm


def test_split_chapters():
    lines = ["EMMA", "", "CHAPTER I", "text one", "CHAPTER II", "text two", "Chapter 3", "three"]
    chapters = split_chapters(lines)
    assert chapters == [["EMMA", "", "CHAPTER I", "text one"], ["CHAPTER II", "text two"], ["Chapter 3", "three"]]


def test_get_domain():
    assert set(DOMAINS) == {"code", "legal", "dialogue", "techdoc", "math", "prose"}
    assert isinstance(get_domain("code", max_bytes=10), CodeCorpus)
    with pytest.raises(ValueError, match="unknown domain 'poetry'"):
        get_domain("poetry")


def test_code_domain_is_the_stdlib_without_tests(cache):
    corpus = CodeCorpus()
    ids = [d.id for d in corpus.documents()]
    assert len(ids) > 500
    assert {"os.py", "json/__init__.py", "collections/__init__.py"} <= set(ids)
    assert not any(EXCLUDED_DIRS & set(i.split("/")[:-1]) or i.rsplit("/", 1)[-1].startswith("test_") for i in ids)
    meta = corpus.meta()
    assert meta["documents"] == len(ids)
    assert meta["bytes"] > 5_000_000
    assert sum(meta["splits_at_default_fractions"].values()) == len(ids)
    capped = CodeCorpus(max_bytes=200_000)
    assert sum(len(t.encode()) for t in capped.texts()) <= 200_000


@pytest.mark.network
def test_dialogue_domain_real(real_cache):
    corpus = DOMAINS["dialogue"]()
    fetch_or_skip(corpus.prepare)
    ids = [d.id for d in corpus.documents()]
    plays = {i.split("/")[0] for i in ids}
    assert len(plays) == 37
    assert "hamlet" in plays
    assert "sonnets" not in plays
    hamlet = sorted((d for d in corpus.documents() if d.id.startswith("hamlet/")), key=lambda d: d.id)
    assert len(hamlet) == 5
    assert "To be, or not to be" in "".join(d.text for d in hamlet)


@pytest.mark.network
def test_prose_domain_real(real_cache):
    pytest.importorskip("rdata")
    corpus = DOMAINS["prose"]()
    fetch_or_skip(corpus.prepare)
    docs = {d.id: d.text for d in corpus.documents()}
    books = {i.split("/")[0] for i in docs}
    assert books == {"emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"}
    assert sum(i.startswith("prideprejudice/") for i in docs) == 61
    assert "It is a truth universally acknowledged" in docs["prideprejudice/001"]


@pytest.mark.network
def test_legal_domain_real(real_cache):
    corpus = DOMAINS["legal"]()
    fetch_or_skip(corpus.prepare)
    docs = {d.id: d.text for d in corpus.documents()}
    assert len(docs) > 2200
    assert "Permission is hereby granted" in docs["mit"]
    # the YAML headers (which all have `key:` and `short_name:` fields) are gone
    assert not any(re.search(r"^(key|short_name): ", t[:2000], re.MULTILINE) for t in docs.values())


@pytest.mark.network
def test_math_domain_real(real_cache):
    corpus = DOMAINS["math"]()
    fetch_or_skip(corpus.prepare)
    texts = list(corpus.texts())
    assert len(texts) > 500
    joined = "".join(texts)
    assert "$= ... $." in joined
    assert "ax-mp" in joined
    # compressed proofs look like "( wi ... ) ABCDE..." between $= and $.; none survive
    assert "$= (" not in joined
    assert "$=\n" not in joined


@pytest.mark.network
def test_techdoc_domain_real(real_cache):
    corpus = DOMAINS["techdoc"]()
    fetch_or_skip(corpus.prepare)
    docs = {d.id: d.text for d in corpus.documents()}
    assert len(docs) == 497
    assert "library/heapq" in docs
    assert ":mod:`heapq`" in docs["library/heapq"]
