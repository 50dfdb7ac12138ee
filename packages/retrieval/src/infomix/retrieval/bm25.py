"""BM25 retrieval by eager sparse scoring: per-(term, doc) scores precomputed into a CSR matrix, query = sum of rows."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from infomix.core.errors import suggest
from infomix.core.hookspecs import hookimpl
from infomix.core.io import atomic_file
from infomix.retrieval import bm25_variants
from infomix.retrieval.results import SearchResults
from infomix.retrieval.tokenizer import Tokenizer
from infomix.retrieval.topk import top_k_sparse

FORMAT = "infomix-bm25/1"
Text = str | Sequence[str]


def _check_texts(texts: Any, name: str) -> None:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{name} must be a list of strings or of token lists, got {type(texts).__name__}"
            + (" (wrap a single text in a list)" if isinstance(texts, str) else "")
        )


def _check_number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} is NaN")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        write(f)


class BM25:
    """BM25 retriever (``retrieval.retriever:bm25``) with the Lucene, Robertson, ATIRE, BM25L and BM25+ variants.

    ``index(docs)`` tokenizes the documents and stores each (term, doc) score ``idf · w`` (see
    :mod:`infomix.retrieval.bm25_variants`) in a terms × docs CSR matrix; a query's scores are the sum of its terms'
    rows (a term repeated in the query counts as often as it occurs), computed for a batch of queries as one sparse
    product, and its top k are found by partial sort. Defaults k1=1.5, b=0.75 are bm25s's and rank-bm25's; ``delta``
    defaults to 0.5 for BM25L and 1.0 for BM25+ (Lv & Zhai). ``score_absent_terms=True`` scores BM25L/BM25+ the
    bm25s / rank-bm25 way (absent query terms add ``idf · w(0)``). ``tokenizer`` is a preset name
    (:data:`infomix.retrieval.tokenizer.PRESETS`, default ``"bm25s"``) or a :class:`Tokenizer`; ``stemmer`` (a
    Snowball language such as ``"english"``, needs PyStemmer) applies to a preset.
    """

    def __init__(
        self,
        variant: str = "lucene",
        k1: float = 1.5,
        b: float = 0.75,
        delta: float | None = None,
        *,
        tokenizer: str | Tokenizer = "bm25s",
        stemmer: str | None = None,
        score_absent_terms: bool = False,
        dtype: str = "float32",
    ) -> None:
        if variant not in bm25_variants.VARIANTS:
            raise ValueError(
                f"unknown BM25 variant {variant!r}{suggest(variant, bm25_variants.VARIANTS)}; "
                f"known variants: {', '.join(bm25_variants.VARIANTS)}"
            )
        self.variant = variant
        self.k1 = _check_number("k1", k1, 0.0)
        self.b = _check_number("b", b, 0.0, 1.0)
        if delta is None:
            delta = bm25_variants.DEFAULT_DELTA.get(variant, 0.0)
        self.delta = _check_number("delta", delta, 0.0)
        if math.isinf(self.k1) or math.isinf(self.delta):
            raise ValueError("k1 and delta must be finite")
        if isinstance(tokenizer, str):
            tokenizer = Tokenizer.preset(tokenizer, stemmer=stemmer)
        elif not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a preset name or a Tokenizer, got {type(tokenizer).__name__}")
        elif stemmer is not None:
            raise ValueError("stemmer applies to a tokenizer preset; set it on the Tokenizer instead")
        self.tokenizer = tokenizer
        self.score_absent_terms = bool(score_absent_terms)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self._matrix: sp.csr_array | None = None

    # ----------------------------------------------------------------------------------------------------- index
    def _terms(self, text: Any, where: str) -> list[str]:
        if isinstance(text, str):
            return self.tokenizer(text)
        if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            return list(text)
        raise TypeError(f"{where} must be a string or a list of string tokens, got {type(text).__name__}")

    def index(self, docs: Sequence[Text], ids: Sequence[str] | None = None) -> BM25:
        """Index ``docs`` (texts, tokenized here, or lists of tokens); ``ids`` name them (default "0", "1", ...)."""
        _check_texts(docs, "docs")
        n_docs = len(docs)
        if n_docs == 0:
            raise ValueError("docs is empty: nothing to index")
        doc_ids = self._check_ids(ids, n_docs)
        vocabulary: dict[str, int] = {}
        lengths = np.empty(n_docs, dtype=np.int64)
        flat: list[int] = []
        for i, doc in enumerate(docs):
            terms = self._terms(doc, f"docs[{i}]")
            lengths[i] = len(terms)
            flat.extend([vocabulary.setdefault(t, len(vocabulary)) for t in terms])
        term_of = np.asarray(flat, dtype=np.int64)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        keys, tf = np.unique(term_of * n_docs + doc_of, return_counts=True)  # sorted by term, then doc
        term, doc = np.divmod(keys, n_docs)
        n_terms = len(vocabulary)
        df = np.bincount(term, minlength=n_terms)
        mean_length = float(lengths.mean())
        idf = bm25_variants.idf(self.variant, df, n_docs)
        weights = bm25_variants.term_weight(self.variant, tf, lengths[doc], mean_length, self.k1, self.b, self.delta)
        data = idf[term] * weights
        absent = None
        if self.score_absent_terms and self.variant in bm25_variants.DEFAULT_DELTA:
            absent = idf * bm25_variants.absent_weight(self.variant, self.k1, self.delta)
            data -= absent[term]
        index_dtype = np.int32 if max(len(keys), n_docs) < 2**31 - 1 else np.int64
        indptr = np.zeros(n_terms + 1, dtype=index_dtype)
        np.cumsum(df, out=indptr[1:])
        self._set_index(
            data.astype(self.dtype),
            doc.astype(index_dtype),
            indptr,
            vocabulary,
            doc_ids,
            lengths,
            None if absent is None else absent.astype(self.dtype),
        )
        return self

    @staticmethod
    def _check_ids(ids: Sequence[str] | None, n_docs: int) -> list[str]:
        if ids is None:
            return [str(i) for i in range(n_docs)]
        _check_texts(ids, "ids")
        ids = list(ids)
        if len(ids) != n_docs:
            raise ValueError(f"ids has {len(ids)} entries for {n_docs} docs")
        bad = next((i for i, x in enumerate(ids) if not isinstance(x, str)), None)
        if bad is not None:
            raise TypeError(f"ids[{bad}] must be a str, got {type(ids[bad]).__name__}")
        if len(set(ids)) != n_docs:
            first: dict[str, int] = {}
            for i, x in enumerate(ids):
                if first.setdefault(x, i) != i:
                    raise ValueError(f"duplicate doc id {x!r} in ids (positions {first[x]} and {i})")
        return ids

    def _set_index(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        vocabulary: dict[str, int],
        doc_ids: list[str],
        lengths: np.ndarray,
        absent: np.ndarray | None,
    ) -> None:
        shape = (len(vocabulary), len(doc_ids))
        self._matrix = sp.csr_array((data, indices, indptr), shape=shape, copy=False)
        self._matrix.has_sorted_indices = True
        self.vocabulary = vocabulary
        self.doc_ids = doc_ids
        self.doc_lengths = lengths
        self._absent = absent

    @property
    def n_docs(self) -> int:
        return 0 if self._matrix is None else self._matrix.shape[1]

    def _require_index(self) -> sp.csr_array:
        if self._matrix is None:
            raise RuntimeError("BM25 has no index: call index(docs) or BM25.load(path) first")
        return self._matrix

    # ---------------------------------------------------------------------------------------------------- search
    def _query_matrix(self, queries: Sequence[Text], offset: int) -> sp.csr_array:
        rows: list[int] = []
        cols: list[int] = []
        get = self.vocabulary.get
        for q, query in enumerate(queries):
            ids = [i for i in map(get, self._terms(query, f"queries[{offset + q}]")) if i is not None]
            cols.extend(ids)
            rows.extend([q] * len(ids))
        ones = np.ones(len(cols), dtype=self.dtype)
        shape = (len(queries), len(self.vocabulary))
        return sp.csr_array((ones, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape)

    def get_scores(self, query: Text) -> np.ndarray:
        """The score of every doc for one query (text or tokens), in index order."""
        matrix = self._require_index()
        q = self._query_matrix([query], 0)
        scores = (q @ matrix).toarray()[0]
        if self._absent is not None:
            scores += (q @ self._absent)[0]
        return scores

    def search(self, queries: Sequence[Text], k: int = 10, *, threads: int | None = 1) -> SearchResults:
        """The top ``k`` docs of each query (texts or token lists), best first; ``threads=None`` uses every core.

        Equal scores rank by increasing doc index (corpus order, as in Lucene); k larger than the corpus returns
        every doc;
        query terms missing from the index are ignored, and a query with no known term ranks all docs at score 0.
        """
        matrix = self._require_index()
        _check_texts(queries, "queries")
        k = min(_check_count("k", k), self.n_docs)
        threads = (os.cpu_count() or 1) if threads is None else _check_count("threads", threads)
        n = len(queries)
        indices = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=self.dtype)

        def run(start: int, stop: int) -> None:
            q = self._query_matrix(queries[start:stop], start)
            product = (q @ matrix).tocsc().tocsr()  # two linear passes leave each row's docs sorted
            indptr, docs, values = product.indptr, product.indices, product.data
            for r in range(stop - start):
                lo, hi = indptr[r], indptr[r + 1]
                indices[start + r], scores[start + r] = top_k_sparse(docs[lo:hi], values[lo:hi], k)
            if self._absent is not None:
                scores[start:stop] += (q @ self._absent)[:, None]

        chunk = max(64, min(1024, -(-n // (4 * threads)))) if threads > 1 else 1024
        bounds = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
        if threads == 1 or len(bounds) == 1:
            for start, stop in bounds:
                run(start, stop)
        else:
            with ThreadPoolExecutor(threads) as pool:
                for future in [pool.submit(run, s, e) for s, e in bounds]:
                    future.result()
        return SearchResults(indices, scores, self.doc_ids)

    # ------------------------------------------------------------------------------------------------- save/load
    def params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable; the tokenizer as its config)."""
        return {
            "variant": self.variant,
            "k1": self.k1,
            "b": self.b,
            "delta": self.delta,
            "score_absent_terms": self.score_absent_terms,
            "dtype": self.dtype.name,
            "tokenizer": self.tokenizer.config(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to the directory ``path`` (``.npy`` arrays, JSON vocabulary, ids and parameters)."""
        matrix = self._require_index()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {
            "data": matrix.data,
            "indices": matrix.indices,
            "indptr": matrix.indptr,
            "doc_lengths": self.doc_lengths,
        }
        if self._absent is not None:
            arrays["absent"] = self._absent
        for name, array in arrays.items():
            _atomic_write(path / f"{name}.npy", lambda f, a=array: np.save(f, np.ascontiguousarray(a)))
        vocabulary = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        for name, value in (("vocabulary", vocabulary), ("doc_ids", self.doc_ids)):
            _atomic_write(path / f"{name}.json", lambda f, v=value: f.write(json.dumps(v).encode()))
        meta = {"format": FORMAT, "params": self.params(), "shape": list(matrix.shape), "arrays": sorted(arrays)}
        _atomic_write(path / "bm25.json", lambda f: f.write(json.dumps(meta, indent=1).encode()))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> BM25:
        """Read an index written by :meth:`save`; ``mmap=True`` memory-maps its arrays instead of reading them."""
        path = Path(path)
        meta_file = path / "bm25.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved BM25 index (no bm25.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file}: unsupported index format {meta.get('format')!r}, expected {FORMAT!r}")
        params = dict(meta["params"])
        tokenizer = Tokenizer(**params.pop("tokenizer"))
        retriever = cls(tokenizer=tokenizer, **params)
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r" if mmap else None) for name in meta["arrays"]}
        vocabulary = json.loads((path / "vocabulary.json").read_text())
        doc_ids = json.loads((path / "doc_ids.json").read_text())
        n_terms, n_docs = meta["shape"]
        if (len(vocabulary), len(doc_ids)) != (n_terms, n_docs) or arrays["indptr"].shape != (n_terms + 1,):
            raise ValueError(f"{path}: the saved arrays, vocabulary and doc ids disagree in size (corrupted index?)")
        retriever._set_index(
            arrays["data"],
            arrays["indices"],
            arrays["indptr"],
            {t: i for i, t in enumerate(vocabulary)},
            doc_ids,
            arrays["doc_lengths"],
            arrays.get("absent"),
        )
        return retriever

    def __repr__(self) -> str:
        return (
            f"BM25(variant={self.variant!r}, k1={self.k1}, b={self.b}, delta={self.delta}, "
            f"tokenizer={self.tokenizer!r}, docs={self.n_docs})"
        )


@hookimpl
def register_components(register: Any) -> None:
    register(
        "retrieval.retriever",
        "bm25",
        BM25,
        summary="BM25 (Lucene, Robertson, ATIRE, BM25L, BM25+) by eager sparse scoring; bm25s-compatible tokenizer.",
    )
