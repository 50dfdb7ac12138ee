"""The LIMIT generator: retrieval tasks whose top-k sets no low-dimensional embedding can realise.

After "On the Theoretical Limitations of Embedding-Based Retrieval" (Weller et al., 2025): documents say
which items a person likes, each query asks who likes one item, and the qrel pattern decides how many
distinct top-k sets a single-vector retriever must represent. The dense pattern (every k-subset of n
people is some query's answer) is the hardest. Names and items come from deterministic built-in word
lists, so generation needs no network.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np

PATTERNS = ("dense", "random", "cycle", "disjoint")

_FIRST = (
    "Ada Bo Cyra Dov Eli Fen Gus Hal Ivo Jun Kai Lev Mae Nia Oma Pia Quin Ria Sol Tev Uma Vik Wes Xia Yul Zed"
).split()
_LAST = (
    "Ashby Brandt Corlis Dunmore Ellery Fairholm Garrow Hollis Ingram Jessop Kestrel Larkin Mercer Norland Oakes "
    "Penrose Quarry Rowan Selby Thorne"
).split()
_ADJECTIVES = (
    "Amber Bitter Bright Copper Crisp Dusty Electric Fizzy Frozen Golden Hidden Iron Jade Lunar Misty Neon Olive "
    "Paper Quiet Rustic Salted Silver Smoky Spiced Velvet Wild Woolen Young Zesty Coral Stormy Sunny Tidal Violet "
    "Wooden Glass Marble Scarlet Tiny Giant"
).split()
_NOUNS = (
    "Acorns Bagels Banjos Canoes Comets Dahlias Drums Ferns Figs Gliders Harps Kites Lanterns Lemons Maps Marbles "
    "Mittens Noodles Otters Owls Pears Puzzles Quilts Radishes Rivers Sandals Scarves Sleds Teapots Tulips "
    "Umbrellas Violins Walnuts Whistles Yachts Zebras Candles Clocks Pebbles Spoons"
).split()


def names(n: int) -> list[str]:
    """`n` distinct person names, always the same for the same n."""
    pool = [f"{f} {last}" for last, f in itertools.product(_LAST, _FIRST)]
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} names are available, asked for {n}")
    return random.Random(0).sample(pool, n)


def items(n: int) -> list[str]:
    """`n` distinct likeable items ("Golden Kites"), always the same for the same n."""
    pool = [f"{a} {b}" for a, b in itertools.product(_ADJECTIVES, _NOUNS)]
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} items are available, asked for {n}")
    return random.Random(1).sample(pool, n)


def dense_docs_needed(n_queries: int, k: int) -> int:
    """The smallest n with C(n, k) ≥ n_queries: the documents the dense pattern needs."""
    n = k
    while math.comb(n, k) < n_queries:
        n += 1
    return n


def qrel_matrix(
    n_queries: int, k: int = 2, pattern: str = "dense", n_docs: int | None = None, seed: int = 0
) -> np.ndarray:
    """A binary [n_queries, n_docs] matrix with exactly k relevant documents per query.

    dense: the first n_queries k-subsets of the fewest documents that have enough of them; random: k random
    documents each; cycle: documents i, i+1, …, i+k−1 (mod n_docs); disjoint: blocks of k, no sharing.
    """
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, got {pattern!r}")
    if n_queries < 1 or k < 1:
        raise ValueError(f"n_queries and k must be >= 1, got {n_queries} and {k}")
    needed = {
        "dense": dense_docs_needed(n_queries, k),
        "random": k,
        "cycle": k,
        "disjoint": n_queries * k,
    }[pattern]
    n_docs = needed if n_docs is None else n_docs
    if n_docs < needed:
        raise ValueError(f"the {pattern} pattern needs n_docs >= {needed} for {n_queries} queries, got {n_docs}")
    matrix = np.zeros((n_queries, n_docs), dtype=bool)
    if pattern == "dense":
        for q, subset in zip(range(n_queries), itertools.combinations(range(needed), k), strict=False):
            matrix[q, list(subset)] = True
    elif pattern == "random":
        rng = np.random.default_rng(seed)
        for q in range(n_queries):
            matrix[q, rng.choice(n_docs, size=k, replace=False)] = True
    elif pattern == "cycle":
        for q in range(n_queries):
            matrix[q, [(q + j) % n_docs for j in range(k)]] = True
    else:
        for q in range(n_queries):
            matrix[q, q * k : (q + 1) * k] = True
    return matrix


@dataclass(frozen=True)
class LimitCollection:
    """Documents, queries and binary qrels of a generated LIMIT task (ids are strings)."""

    docs: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def generate(
    n_queries: int = 1000,
    k: int = 2,
    pattern: str = "dense",
    n_docs: int | None = None,
    items_per_doc: int = 20,
    seed: int = 0,
) -> LimitCollection:
    """Generate a LIMIT collection: "Who likes X?" queries over "NAME likes A, B, …" documents.

    Each query's item is unique to it and appears only in its k relevant documents; the documents are
    then filled up to `items_per_doc` with distractor items no query asks about, in random order.
    """
    matrix = qrel_matrix(n_queries, k, pattern, n_docs, seed)
    n_docs = matrix.shape[1]
    people = names(n_docs)
    need = max(0, items_per_doc - int(matrix.sum(axis=0).min()))
    pool = items(n_queries + max(need, items_per_doc))
    asked, distractors = pool[:n_queries], pool[n_queries:]
    rng = random.Random(seed)
    liked: list[list[str]] = [[] for _ in range(n_docs)]
    for q, row in enumerate(matrix):
        for d in np.flatnonzero(row):
            liked[d].append(asked[q])
    for d in range(n_docs):
        missing = items_per_doc - len(liked[d])
        if missing > 0:
            liked[d] += rng.sample(distractors, min(missing, len(distractors)))
        rng.shuffle(liked[d])
    docs = {f"d{d}": f"{people[d]} likes {', '.join(liked[d])}." for d in range(n_docs)}
    queries = {f"q{q}": f"Who likes {asked[q]}?" for q in range(n_queries)}
    qrels = {f"q{q}": {f"d{d}": 1 for d in np.flatnonzero(row)} for q, row in enumerate(matrix)}
    return LimitCollection(docs, queries, qrels)
