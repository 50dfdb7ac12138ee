"""BM25: scores equal bm25s's and rank-bm25's per variant, a closed-form toy corpus, save/load, bad input."""

import importlib.util
import math
import mmap

import numpy as np
import pytest

from infomix.core import get_registry
from infomix.retrieval import BM25, Tokenizer

VARIANTS = ["lucene", "robertson", "atire", "bm25l", "bm25+"]
# bm25s drops Robertson's (k1 + 1) numerator in these variants (as Lucene >= 8 does): ours = (k1 + 1) * theirs.
DROPS_K1_PLUS_1 = {"lucene", "robertson"}


def random_params(seed):
    rng = np.random.default_rng(seed)
    return float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.2, 1.5))


@pytest.mark.parametrize("variant", VARIANTS)
def test_scores_equal_bm25s(corpus, variant):
    bm25s = pytest.importorskip("bm25s")
    docs, queries = corpus
    k1, b, delta = random_params(VARIANTS.index(variant))
    tokenizer = Tokenizer.preset("bm25s")
    doc_tokens, query_tokens = tokenizer.tokenize(docs), tokenizer.tokenize(queries)
    theirs = bm25s.BM25(method=variant, k1=k1, b=b, delta=delta, dtype="float64")
    theirs.index(bm25s.tokenize(docs, show_progress=False), show_progress=False)
    factor = k1 + 1 if variant in DROPS_K1_PLUS_1 else 1.0
    for dtype, rtol in (("float64", 1e-9), ("float32", 1e-5)):
        ours = BM25(variant, k1, b, delta, score_absent_terms=True, dtype=dtype).index(docs)
        for q in query_tokens:
            expected = factor * theirs.get_scores(q) if q else np.zeros(len(docs))
            np.testing.assert_allclose(ours.get_scores(q), expected, rtol=rtol, atol=rtol)
    # top-k: same scores, and the same docs wherever the score is not tied with another doc
    k = 50
    got = ours.search(query_tokens, k=k)
    ref_docs, ref_scores = theirs.retrieve(query_tokens, k=k, show_progress=False, n_threads=0)
    np.testing.assert_allclose(got.scores, factor * ref_scores, rtol=1e-5, atol=1e-5)
    dense = [ours.get_scores(q) for q in query_tokens]
    unique = np.array(
        [[np.sum(np.abs(d - s) < 1e-4) == 1 for s in row] for d, row in zip(dense, got.scores, strict=True)]
    )
    assert unique.mean() > 0.5
    np.testing.assert_array_equal(got.indices[unique], ref_docs[unique])
    assert len(doc_tokens) == len(docs)


# rank-bm25 0.2.2: BM25Okapi with epsilon=0 is Robertson (negative idf -> 0); BM25Plus is BM25+ scoring absent terms.
# Its BM25L is not BM25L: it multiplies each term's weight by tf once more (see the test after this one).
RANK_BM25 = {"robertson": ("BM25Okapi", {"epsilon": 0.0}), "bm25+": ("BM25Plus", {})}


@pytest.mark.parametrize("variant", sorted(RANK_BM25))
def test_scores_equal_rank_bm25(corpus, variant):
    rank_bm25 = pytest.importorskip("rank_bm25")
    docs, queries = corpus
    k1, b, delta = random_params(10 + VARIANTS.index(variant))
    tokenizer = Tokenizer.preset("bm25s")
    doc_tokens = tokenizer.tokenize(docs)
    name, extra = RANK_BM25[variant]
    params = extra | ({"k1": k1, "b": b} if variant == "robertson" else {"k1": k1, "b": b, "delta": delta})
    theirs = getattr(rank_bm25, name)(doc_tokens, **params)
    ours = BM25(variant, k1, b, delta, score_absent_terms=True, dtype="float64").index(doc_tokens)
    for q in tokenizer.tokenize(queries)[:30]:
        np.testing.assert_allclose(ours.get_scores(q), theirs.get_scores(q), rtol=1e-9, atol=1e-9)


def test_rank_bm25_bm25l_is_tf_times_bm25l(corpus):
    rank_bm25 = pytest.importorskip("rank_bm25")
    docs, queries = corpus
    k1, b, delta = random_params(20)
    tokenizer = Tokenizer.preset("bm25s")
    doc_tokens = tokenizer.tokenize(docs)
    theirs = rank_bm25.BM25L(doc_tokens, k1=k1, b=b, delta=delta)
    ours = BM25("bm25l", k1, b, delta, dtype="float64").index(doc_tokens)
    for q in tokenizer.tokenize(queries)[:10]:
        tf = {t: np.array([d.count(t) for d in doc_tokens]) for t in set(q)}
        expected = sum((tf[t] * ours.get_scores([t]) for t in q), np.zeros(len(docs)))
        np.testing.assert_allclose(theirs.get_scores(q), expected, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------------------------- closed form
TOY = [["cat", "dog", "cat"], ["dog", "fish"], ["bird", "cat", "fish", "fish", "emu"]]  # lengths 3, 2, 5; mean 10/3
K1, B = 1.2, 0.75


def norm(length):
    return 1 - B + B * length / (10 / 3)


def saturate(tf, length):  # (k1 + 1) tf / (k1 (1 - b + b L / Lavg) + tf)
    return (K1 + 1) * tf / (K1 * norm(length) + tf)


def bm25l_w(tf, length, delta):
    c = tf / norm(length)
    return (K1 + 1) * (c + delta) / (K1 + c + delta)


# query "cat fish zebra": cat has df 2 (tf 2, 0, 1), fish df 2 (tf 0, 1, 2), zebra is unknown. N = 3.
CLOSED_FORM = {
    "lucene": lambda: [
        math.log(1 + 1.5 / 2.5) * saturate(2, 3),
        math.log(1 + 1.5 / 2.5) * saturate(1, 2),
        math.log(1 + 1.5 / 2.5) * (saturate(1, 5) + saturate(2, 5)),
    ],
    "robertson": lambda: [0.0, 0.0, 0.0],  # log(1.5 / 2.5) < 0 is clamped to 0
    "atire": lambda: [
        math.log(3 / 2) * saturate(2, 3),
        math.log(3 / 2) * saturate(1, 2),
        math.log(3 / 2) * (saturate(1, 5) + saturate(2, 5)),
    ],
    "bm25l": lambda: [
        math.log(4 / 2.5) * bm25l_w(2, 3, 0.5),
        math.log(4 / 2.5) * bm25l_w(1, 2, 0.5),
        math.log(4 / 2.5) * (bm25l_w(1, 5, 0.5) + bm25l_w(2, 5, 0.5)),
    ],
    "bm25+": lambda: [
        math.log(4 / 2) * (saturate(2, 3) + 1.0),
        math.log(4 / 2) * (saturate(1, 2) + 1.0),
        math.log(4 / 2) * (saturate(1, 5) + 1.0 + saturate(2, 5) + 1.0),
    ],
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_closed_form_toy_corpus(variant):
    retriever = BM25(variant, k1=K1, b=B, dtype="float64").index(TOY)
    expected = CLOSED_FORM[variant]()
    np.testing.assert_allclose(retriever.get_scores(["cat", "fish", "zebra"]), expected, rtol=1e-12, atol=1e-12)
    # a repeated query term counts twice
    twice = retriever.get_scores(["cat", "cat"])
    np.testing.assert_allclose(twice, 2 * retriever.get_scores(["cat"]), rtol=1e-12)


def test_robertson_idf_is_positive_for_rare_terms():
    retriever = BM25("robertson", k1=K1, b=B, dtype="float64").index(TOY)
    np.testing.assert_allclose(retriever.get_scores(["emu"]), [0, 0, math.log(2.5 / 1.5) * saturate(1, 5)])


@pytest.mark.parametrize("variant", ["bm25l", "bm25+"])
def test_absent_terms_add_idf_times_w0_per_missing_term(variant):
    delta = 0.7
    literature = BM25(variant, k1=K1, b=B, delta=delta, dtype="float64").index(TOY)
    absent = BM25(variant, k1=K1, b=B, delta=delta, score_absent_terms=True, dtype="float64").index(TOY)
    idf = math.log(4 / 2.5) if variant == "bm25l" else math.log(4 / 2)
    w0 = (K1 + 1) * delta / (K1 + delta) if variant == "bm25l" else delta
    missing = np.array([1, 1, 0])  # doc 0 lacks fish, doc 1 lacks cat, doc 2 has both
    diff = absent.get_scores(["cat", "fish"]) - literature.get_scores(["cat", "fish"])
    np.testing.assert_allclose(diff, idf * w0 * missing, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------------ search
def test_search_ranks_ties_and_edge_cases():
    retriever = BM25("lucene", k1=K1, b=B, tokenizer="words").index(
        ["cat dog cat", "dog fish", "", "bird cat fish fish emu", "dog fish"], ids=["a", "b", "c", "d", "e"]
    )
    results = retriever.search(["dog", "zebra", "", "fish dog cat"], k=10)
    assert results.indices.shape == (4, 5)  # k larger than the corpus returns every doc
    dense = [retriever.get_scores(q) for q in ["dog", "zebra", "", "fish dog cat"]]
    for row, scores in zip(results.indices, dense, strict=True):
        np.testing.assert_array_equal(row, np.lexsort((np.arange(5), -scores)))  # ties by doc index
    assert results.ids()[0][:3] == ["b", "e", "a"]  # "dog fish" twice (tied: b before e), then the longer doc
    np.testing.assert_array_equal(results.scores[1], 0)  # unknown term: every doc scores 0, in corpus order
    np.testing.assert_array_equal(results.indices[2], np.arange(5))
    run = results.to_run(["q1", "q2", "q3", "q4"])
    assert set(run) == {"q1", "q2", "q3", "q4"} and run["q1"]["b"] == pytest.approx(float(results.scores[0, 0]))


def test_empty_corpus_text_and_empty_query_list():
    retriever = BM25().index(["", "...", "a I"], ids=["x", "y", "z"])  # no term survives the bm25s preset
    results = retriever.search(["anything", ""], k=2)
    np.testing.assert_array_equal(results.indices, [[0, 1], [0, 1]])
    np.testing.assert_array_equal(results.scores, 0)
    assert retriever.search([], k=5).indices.shape == (0, 3)


def test_threads_give_identical_results(corpus):
    docs, queries = corpus
    retriever = BM25(stemmer=None).index(docs)
    one = retriever.search(queries, k=20, threads=1)
    many = retriever.search(queries, k=20, threads=3)
    np.testing.assert_array_equal(one.indices, many.indices)
    np.testing.assert_array_equal(one.scores, many.scores)


def file_backed(array):
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, mmap):
    stemmer = "english" if importlib.util.find_spec("Stemmer") else None
    docs = ["Flows over wings", "the shocks and flowing heat", "Straße café naïve", "wing wing heat"]
    retriever = BM25("bm25+", k1=1.1, b=0.6, delta=0.8, stemmer=stemmer, score_absent_terms=True).index(
        docs, ids=["d1", "d2", "d3", "d4"]
    )
    retriever.save(tmp_path / "index")
    loaded = BM25.load(tmp_path / "index", mmap=mmap)
    assert loaded.params() == retriever.params() and loaded.doc_ids == retriever.doc_ids
    for array in (loaded._matrix.data, loaded._matrix.indices, loaded._matrix.indptr):
        assert file_backed(array) == mmap  # memory-mapped, not copied into memory
    queries = ["flowing wings", "heat", "café"]
    a, b = retriever.search(queries, k=3), loaded.search(queries, k=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.ids() == b.ids()


def test_registered_component():
    component = get_registry().get("retrieval.retriever", "bm25")
    retriever = component.create(variant="atire", k1=0.9)
    assert isinstance(retriever, BM25) and retriever.variant == "atire"


# --------------------------------------------------------------------------------------------------- bad input
def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"unknown BM25 variant 'bm25p' \(did you mean"):
        BM25("bm25p")
    with pytest.raises(ValueError, match="k1 is NaN"):
        BM25(k1=float("nan"))
    with pytest.raises(ValueError, match=r"b must be in \[0.0, 1.0\]"):
        BM25(b=1.5)
    with pytest.raises(ValueError, match="delta must be in"):
        BM25("bm25l", delta=-1)
    with pytest.raises(TypeError, match="k1 must be a number"):
        BM25(k1="1.2")
    with pytest.raises(ValueError, match="dtype must be"):
        BM25(dtype="int8")
    with pytest.raises(ValueError, match="stemmer applies to a tokenizer preset"):
        BM25(tokenizer=Tokenizer(), stemmer="english")
    retriever = BM25()
    with pytest.raises(RuntimeError, match="no index"):
        retriever.search(["x"])
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        retriever.index("one document")
    with pytest.raises(ValueError, match="docs is empty"):
        retriever.index([])
    with pytest.raises(TypeError, match=r"docs\[1\] must be a string or a list of string tokens"):
        retriever.index(["fine", 3])
    with pytest.raises(ValueError, match="duplicate doc id 'x'"):
        retriever.index(["aa", "bb", "cc"], ids=["x", "y", "x"])
    with pytest.raises(ValueError, match="ids has 1 entries for 2 docs"):
        retriever.index(["aa", "bb"], ids=["x"])
    retriever.index(["aa bb", "bb cc"])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        retriever.search(["bb"], k=0)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        retriever.search(["bb"], threads=0)
    with pytest.raises(TypeError, match=r"queries\[1\] must be a string"):
        retriever.search(["bb", None])
    with pytest.raises(FileNotFoundError, match="not a saved BM25 index"):
        BM25.load(tmp_path)
