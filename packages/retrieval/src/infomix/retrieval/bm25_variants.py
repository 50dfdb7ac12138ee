"""The BM25 variants' idf and term-frequency weights (Kamphuis et al., ECIR 2020, Table 1; Lv & Zhai, 2011).

With ``K_d = k1 · (1 − b + b · L_d / L_avg)`` (document length ``L_d``, mean length ``L_avg``), a term with document
frequency ``df`` in a corpus of ``N`` documents, occurring ``tf > 0`` times in document d, contributes
``idf(df, N) · w(tf, L_d)``:

=========  ====================================  ==========================================================
variant    idf                                   w
=========  ====================================  ==========================================================
robertson  max(0, log((N − df + .5)/(df + .5)))  (k1 + 1) · tf / (K_d + tf)
lucene     log(1 + (N − df + .5)/(df + .5))      (k1 + 1) · tf / (K_d + tf)
atire      log(N / df)                           (k1 + 1) · tf / (K_d + tf)
bm25l      log((N + 1)/(df + .5))                (k1 + 1) · (c + δ) / (k1 + c + δ),  c = tf · k1 / K_d
bm25+      log((N + 1) / df)                     (k1 + 1) · tf / (K_d + tf) + δ
=========  ====================================  ==========================================================

All variants keep Robertson's (k1 + 1) numerator. bm25s (and Lucene since version 8) drop it from ``robertson`` and
``lucene``, so their scores are ours divided by (k1 + 1); ranking is unchanged. Robertson's idf is clamped at 0 for
terms in more than half of the documents (bm25s does the same; rank-bm25's ``BM25Okapi`` does with ``epsilon=0``).

For BM25L and BM25+, a query term absent from d contributes nothing by default: Lv & Zhai's δ shift is a lower
bound on the gain of matching a term, which adding ``idf · w(0)`` for absent terms as well would cancel. bm25s and
rank-bm25 do add it for every absent query term; ``absent_weight`` gives that ``w(0)``.
"""

from __future__ import annotations

import numpy as np

VARIANTS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
DEFAULT_DELTA = {"bm25l": 0.5, "bm25+": 1.0}  # the values Lv & Zhai recommend


def idf(variant: str, df: np.ndarray, n_docs: int) -> np.ndarray:
    """Inverse document frequency of terms with document frequencies ``df`` (float64; ``df`` ≥ 1)."""
    df = np.asarray(df, dtype=np.float64)
    n = float(n_docs)
    if variant == "robertson":
        return np.maximum(np.log((n - df + 0.5) / (df + 0.5)), 0.0)
    if variant == "lucene":
        return np.log1p((n - df + 0.5) / (df + 0.5))
    if variant == "atire":
        return np.log(n / df)
    if variant == "bm25l":
        return np.log((n + 1.0) / (df + 0.5))
    if variant == "bm25+":
        return np.log((n + 1.0) / df)
    raise ValueError(f"unknown BM25 variant {variant!r}; known variants: {', '.join(VARIANTS)}")


def term_weight(
    variant: str, tf: np.ndarray, doc_length: np.ndarray, mean_length: float, k1: float, b: float, delta: float
) -> np.ndarray:
    """The saturating term-frequency weight ``w`` of each (tf, document length) pair (float64)."""
    tf = np.asarray(tf, dtype=np.float64)
    norm = 1.0 - b + b * np.asarray(doc_length, dtype=np.float64) / mean_length if mean_length > 0 else 1.0
    if variant in ("robertson", "lucene", "atire"):
        return (k1 + 1.0) * tf / (k1 * norm + tf)
    if variant == "bm25l":
        c = tf / norm
        return (k1 + 1.0) * (c + delta) / (k1 + c + delta)
    if variant == "bm25+":
        return (k1 + 1.0) * tf / (k1 * norm + tf) + delta
    raise ValueError(f"unknown BM25 variant {variant!r}; known variants: {', '.join(VARIANTS)}")


def absent_weight(variant: str, k1: float, delta: float) -> float:
    """``w(tf=0)``: what bm25s and rank-bm25 add (times idf) for a query term absent from a document."""
    if variant == "bm25l":
        return (k1 + 1.0) * delta / (k1 + delta)
    if variant == "bm25+":
        return float(delta)
    return 0.0
