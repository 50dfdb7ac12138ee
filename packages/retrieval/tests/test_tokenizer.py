"""Tokenizer: the "bm25s" preset reproduces bm25s's tokenisation on real text; stop words go before stemming."""

import sys

import pytest

from infomix.retrieval import Tokenizer
from infomix.retrieval.tokenizer import ENGLISH_STOP_WORDS


def test_english_stop_words_are_bm25s_list():
    pytest.importorskip("bm25s")
    from bm25s.stopwords import STOPWORDS_EN

    assert set(STOPWORDS_EN) == ENGLISH_STOP_WORDS and len(ENGLISH_STOP_WORDS) == 33


@pytest.mark.parametrize("stemmer", [None, "english"])
def test_bm25s_preset_matches_bm25s_tokenize(corpus, stemmer):
    bm25s = pytest.importorskip("bm25s")
    docs, queries = corpus
    texts = docs + queries
    if stemmer:
        Stemmer = pytest.importorskip("Stemmer")
        theirs = bm25s.tokenize(texts, stemmer=Stemmer.Stemmer(stemmer), return_ids=False, show_progress=False)
    else:
        theirs = bm25s.tokenize(texts, return_ids=False, show_progress=False)
    ours = Tokenizer.preset("bm25s", stemmer=stemmer).tokenize(texts)
    assert ours == theirs
    assert sum(map(len, ours)) > 1000  # the comparison covered real text


def test_stop_words_are_removed_before_stemming():
    bm25s = pytest.importorskip("bm25s")
    pytest.importorskip("Stemmer")
    text = "Ands the THIS flows"  # "ands" stems to the stop word "and", which stays
    ours = Tokenizer.preset("bm25s", stemmer="english")(text)
    import Stemmer

    assert ours == bm25s.tokenize([text], stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)[0]
    assert ours == ["and", "flow"]


def test_options_and_unicode():
    assert Tokenizer()("Café NAÏVE x-ray λόγος") == ["café", "naïve", "x", "ray", "λόγος"]
    assert Tokenizer(lowercase=False, pattern=r"\S+")("A b, C") == ["A", "b,", "C"]
    assert Tokenizer(stopwords=["ray"])("x-ray gun") == ["x", "gun"]
    assert Tokenizer.preset("bm25s")("a to x is in flow") == ["flow"]  # 1-letter tokens and stop words dropped
    config = {"lowercase": True, "pattern": r"\w+", "stopwords": None, "stemmer": None}
    assert Tokenizer.preset("words").config() == config


def test_stemming_without_pystemmer_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    with pytest.raises(ImportError, match=r"PyStemmer.*infomix-retrieval\[stem\]"):
        Tokenizer(stemmer="english")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown tokenizer preset 'bm26'"):
        Tokenizer.preset("bm26")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Tokenizer(pattern="(")
    with pytest.raises(ValueError, match="stopwords must be one of"):
        Tokenizer(stopwords="klingon")
    with pytest.raises(TypeError, match="text must be a str"):
        Tokenizer()(b"bytes")
    pytest.importorskip("Stemmer")
    with pytest.raises(ValueError, match="stemmer must be one of PyStemmer's languages"):
        Tokenizer(stemmer="klingon")
