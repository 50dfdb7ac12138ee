"""Vector indexes (`retrieval.index`): exact inner-product / L2 search, and faiss flat, IVF and HNSW indexes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from infomix.core.hookspecs import hookimpl
from infomix.core.io import atomic_file, atomic_write_json

METRICS = ("ip", "l2")


def _check_vectors(name: str, x: Any, dim: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty [n, dim] array, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have dim {dim} (the index's), got {x.shape[1]}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores`` [q, n]: the k best (scores, indices), best first, ties by increasing index."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        threshold = np.take_along_axis(scores, part, 1).min(axis=1, keepdims=True)
    else:
        threshold = scores.min(axis=1, keepdims=True)
    out_i = np.empty((scores.shape[0], k), dtype=np.int64)
    for r in range(scores.shape[0]):
        candidates = np.flatnonzero(scores[r] >= threshold[r])  # increasing index; ties beyond k cut below
        order = np.argsort(-scores[r, candidates], kind="stable")[:k]
        out_i[r] = candidates[order]
    return np.take_along_axis(scores, out_i, 1), out_i


class ExactIndex:
    """Brute-force search (``retrieval.index:exact``): scores = X qᵀ (``ip``) or −‖x − q‖² (``l2``), best first."""

    kind = "exact"

    def __init__(self, metric: str = "ip", block: int = 1024) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric, self.block = metric, int(block)
        self.vectors: np.ndarray | None = None

    @property
    def ntotal(self) -> int:
        return 0 if self.vectors is None else self.vectors.shape[0]

    def add(self, vectors: Any) -> ExactIndex:
        dim = None if self.vectors is None else self.vectors.shape[1]
        vectors = _check_vectors("vectors", vectors, dim)
        self.vectors = vectors if self.vectors is None else np.concatenate([self.vectors, vectors])
        return self

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k'], indices [q, k']) with k' = min(k, ntotal)."""
        if self.vectors is None:
            raise RuntimeError("the index is empty: add(vectors) first")
        queries, k = _check_vectors("queries", queries, self.vectors.shape[1]), _check_k(k)
        parts = []
        for start in range(0, queries.shape[0], self.block):
            q = queries[start : start + self.block]
            scores = q @ self.vectors.T
            if self.metric == "l2":
                scores = 2 * scores - (q * q).sum(1, keepdims=True) - (self.vectors * self.vectors).sum(1)[None]
            parts.append(top_k_rows(scores, k))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def params(self) -> dict[str, Any]:
        return {"metric": self.metric}

    def save(self, path: str | os.PathLike[str]) -> None:
        if self.vectors is None:
            raise RuntimeError("the index is empty: nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_file(path / "vectors.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, self.vectors)
        atomic_write_json(path / "index.json", {"index": self.kind, "params": self.params()})

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> ExactIndex:
        meta = json.loads((Path(path) / "index.json").read_text())
        index = cls(**meta["params"])
        index.vectors = np.load(Path(path) / "vectors.npy", mmap_mode="r" if mmap else None)
        return index


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "faiss indexes need the faiss package: pip install faiss-cpu (or infomix-retrieval[faiss])"
        ) from exc
    return faiss


class FaissIndex:
    """A faiss index (``retrieval.index:faiss-flat|faiss-ivf|faiss-hnsw``) with the :class:`ExactIndex` interface.

    ``flat``: IndexFlatIP / IndexFlatL2 (exact). ``ivf``: IndexIVFFlat with ``nlist`` k-means cells (trained on
    the first vectors added; at most one cell per 39 vectors, faiss's minimum) and ``nprobe`` cells searched.
    ``hnsw``: IndexHNSWFlat with ``M`` links, ``ef_construction`` and ``ef_search``. Scores are inner products
    (``ip``) or negated squared distances (``l2``), best first; ``threads`` sets faiss's OpenMP threads.
    """

    KINDS = ("flat", "ivf", "hnsw")

    def __init__(
        self,
        kind: str = "flat",
        metric: str = "ip",
        *,
        nlist: int = 100,
        nprobe: int = 8,
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        for name, value in (("nlist", nlist), ("nprobe", nprobe), ("M", M), ("ef_construction", ef_construction),
                            ("ef_search", ef_search)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.faiss = _faiss()
        self.kind, self.metric = kind, metric
        self.nlist, self.nprobe, self.M = int(nlist), int(nprobe), int(M)
        self.ef_construction, self.ef_search, self.seed = int(ef_construction), int(ef_search), int(seed)
        self.threads = threads
        self.index: Any = None

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def _new(self, dim: int, n_train: int) -> Any:
        f = self.faiss
        faiss_metric = f.METRIC_INNER_PRODUCT if self.metric == "ip" else f.METRIC_L2
        if self.kind == "flat":
            return f.IndexFlatIP(dim) if self.metric == "ip" else f.IndexFlatL2(dim)
        if self.kind == "hnsw":
            index = f.IndexHNSWFlat(dim, self.M, faiss_metric)
            index.hnsw.efConstruction = self.ef_construction
            return index
        self.nlist = max(1, min(self.nlist, n_train // 39))
        quantizer = f.IndexFlatIP(dim) if self.metric == "ip" else f.IndexFlatL2(dim)
        index = f.IndexIVFFlat(quantizer, dim, self.nlist, faiss_metric)
        index.cp.seed = self.seed
        self._quantizer = quantizer  # the IVF index borrows it: keep it alive as long as the index
        return index

    def _set_threads(self) -> None:
        if self.threads is not None:
            self.faiss.omp_set_num_threads(int(self.threads))

    def add(self, vectors: Any) -> FaissIndex:
        dim = None if self.index is None else self.index.d
        vectors = _check_vectors("vectors", vectors, dim)
        self._set_threads()
        if self.index is None:
            self.index = self._new(vectors.shape[1], vectors.shape[0])
            if not self.index.is_trained:
                self.index.train(vectors)
        self.index.add(vectors)
        return self

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index is None:
            raise RuntimeError("the index is empty: add(vectors) first")
        queries, k = _check_vectors("queries", queries, self.index.d), min(_check_k(k), self.ntotal)
        self._set_threads()
        if self.kind == "ivf":
            self.index.nprobe = min(self.nprobe, self.nlist)
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.ef_search, k)
        distances, indices = self.index.search(queries, k)
        scores = distances if self.metric == "ip" else -distances
        missing = indices < 0  # fewer than k found (IVF with few probed cells): rank them last
        if missing.any():
            scores = np.where(missing, -np.inf, scores)
        return scores.astype(np.float32), indices.astype(np.int64)

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "nlist": self.nlist, "nprobe": self.nprobe, "M": self.M,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search, "seed": self.seed}  # fmt: skip

    def save(self, path: str | os.PathLike[str]) -> None:
        if self.index is None:
            raise RuntimeError("the index is empty: nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_file(path / "index.faiss") as tmp:
            self.faiss.write_index(self.index, str(tmp))
        atomic_write_json(path / "index.json", {"index": f"faiss-{self.kind}", "params": self.params()})

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> FaissIndex:
        meta = json.loads((Path(path) / "index.json").read_text())
        index = cls(**meta["params"])
        flags = index.faiss.IO_FLAG_MMAP if mmap and index.kind == "flat" else 0
        index.index = index.faiss.read_index(str(Path(path) / "index.faiss"), flags)
        return index


def flat_index(**params: Any) -> FaissIndex:
    """A faiss IndexFlat (exact)."""
    return FaissIndex("flat", **params)


def ivf_index(**params: Any) -> FaissIndex:
    """A faiss IndexIVFFlat."""
    return FaissIndex("ivf", **params)


def hnsw_index(**params: Any) -> FaissIndex:
    """A faiss IndexHNSWFlat."""
    return FaissIndex("hnsw", **params)


INDEXES = {"exact": ExactIndex, "faiss-flat": flat_index, "faiss-ivf": ivf_index, "faiss-hnsw": hnsw_index}


def make_index(name: str, **params: Any) -> ExactIndex | FaissIndex:
    """An index by its registered name (exact, faiss-flat, faiss-ivf, faiss-hnsw)."""
    if name not in INDEXES:
        raise ValueError(f"unknown index {name!r}; known indexes: {', '.join(INDEXES)}")
    return INDEXES[name](**params)


def load_index(path: str | os.PathLike[str], mmap: bool = True) -> ExactIndex | FaissIndex:
    """Read an index written by ``save`` (its kind is in index.json)."""
    meta_file = Path(path) / "index.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a saved vector index (no index.json)")
    name = json.loads(meta_file.read_text())["index"]
    return ExactIndex.load(path, mmap) if name == "exact" else FaissIndex.load(path, mmap)


@hookimpl
def register_components(register: Any) -> None:
    register("retrieval.index", "exact", ExactIndex, summary="Exact inner-product or L2 search by blocked matmul.")
    register("retrieval.index", "faiss-flat", flat_index, summary="faiss IndexFlatIP/L2 (exact; needs faiss).")
    register("retrieval.index", "faiss-ivf", ivf_index, summary="faiss IndexIVFFlat: nlist cells, nprobe searched.")
    register("retrieval.index", "faiss-hnsw", hnsw_index, summary="faiss IndexHNSWFlat graph (M, efSearch).")
