"""Dense bi-encoder retrieval (`retrieval.retriever:dense`): encode docs once (cached), search a vector index."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infomix.core.hookspecs import hookimpl
from infomix.core.io import atomic_write_json
from infomix.retrieval.embedding_cache import EmbeddingCache
from infomix.retrieval.results import SearchResults
from infomix.retrieval.vector_index import load_index, make_index

FORMAT = "infomix-dense/1"


def load_encoder(spec: Any, max_length: int = 256) -> Any:
    """``"minilm"`` (the offline all-MiniLM-L6-v2), a folder saved by a trained encoder, or an encoder object."""
    if not isinstance(spec, (str, os.PathLike)):
        if not (hasattr(spec, "encode") and hasattr(spec, "fingerprint")):
            raise TypeError(
                "encoder must be 'minilm', a saved encoder folder, or an object with encode and fingerprint"
            )
        return spec
    if spec == "minilm":
        from infomix.retrieval.minilm import MiniLM

        return MiniLM(max_length=max_length)
    folder = Path(spec)
    if (folder / "encoder.json").is_file():
        from infomix.retrieval.contrastive import TextEncoder

        return TextEncoder.load(folder)
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        from infomix.retrieval.minilm import MiniLM

        return MiniLM(folder, max_length=max_length)
    raise ValueError(f"encoder must be 'minilm' or a folder with a saved encoder, got {str(spec)!r}")


class DenseRetriever:
    """Bi-encoder retriever: cosine (inner product of L2-normalised embeddings) over a ``retrieval.index``.

    ``encoder``: see :func:`load_encoder`. ``index``: ``exact`` (default), ``faiss-flat``, ``faiss-ivf`` or
    ``faiss-hnsw``, built with ``index_params``. Document and query embeddings are cached on disk
    (``cache_dir``, default ``$INFOMIX_CACHE/embeddings``) under the encoder's fingerprint and a hash of the
    texts, so re-indexing the same collection is free; ``cache=False`` turns that off.
    """

    def __init__(
        self,
        encoder: Any = "minilm",
        index: str = "exact",
        *,
        batch_size: int = 32,
        max_length: int = 256,
        cache: bool = True,
        cache_dir: str | None = None,
        progress: bool = True,
        index_params: dict[str, Any] | None = None,
        **more_index_params: Any,
    ) -> None:
        self.encoder_spec = encoder if isinstance(encoder, (str, os.PathLike)) else None
        self.encoder = load_encoder(encoder, max_length)
        self.index_name = index
        self.index_params = {**(index_params or {}), **more_index_params}
        make_index(index, **self.index_params)  # validate now, not after encoding
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size, self.max_length, self.progress = batch_size, max_length, bool(progress)
        self.cache = EmbeddingCache(cache_dir) if cache else None
        self.cache_dir = cache_dir
        self.vectors: Any = None
        self.doc_ids: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [len(texts), dim] (from the cache when present)."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        kwargs = {"batch_size": self.batch_size, "progress": self.progress}
        if self.cache is not None:
            return self.cache.encode(self.encoder, texts, **kwargs)
        return np.asarray(self.encoder.encode(texts, **kwargs), dtype=np.float32)

    def index(self, docs: Sequence[str], ids: Sequence[str] | None = None) -> DenseRetriever:
        """Encode ``docs`` and add them to a fresh index; ``ids`` name them (default "0", "1", ...)."""
        from infomix.retrieval.bm25 import BM25

        if isinstance(docs, str) or not isinstance(docs, Sequence) or len(docs) == 0:
            raise ValueError("docs must be a non-empty list of strings")
        self.doc_ids = BM25._check_ids(ids, len(docs))
        self.vectors = make_index(self.index_name, **self.index_params).add(self.embed(docs))
        return self

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    def search(self, queries: Sequence[str], k: int = 10, *, threads: int | None = 1) -> SearchResults:
        """Top ``k`` docs per query by cosine similarity, best first (ties by corpus order for exact search)."""
        if self.vectors is None:
            raise RuntimeError("DenseRetriever has no index: call index(docs) or DenseRetriever.load(path) first")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if len(queries) == 0:
            width = min(k, self.n_docs)
            return SearchResults(np.empty((0, width), np.int64), np.empty((0, width), np.float32), self.doc_ids)
        if threads is not None and hasattr(self.vectors, "threads"):
            self.vectors.threads = threads
        scores, indices = self.vectors.search(self.embed(queries), min(k, self.n_docs))
        return SearchResults(indices, scores, self.doc_ids)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index, doc ids and settings to the folder ``path``."""
        if self.vectors is None:
            raise RuntimeError("DenseRetriever has no index: nothing to save")
        if self.encoder_spec is None:
            raise ValueError("only a retriever built from an encoder name or folder can be saved")
        path = Path(path)
        self.vectors.save(path / "vectors")
        atomic_write_json(path / "doc_ids.json", self.doc_ids)
        params = {"encoder": str(self.encoder_spec), "index": self.index_name, "batch_size": self.batch_size,
                  "max_length": self.max_length, "index_params": self.index_params,
                  "cache": self.cache is not None, "cache_dir": self.cache_dir}  # fmt: skip
        atomic_write_json(path / "dense.json", {"format": FORMAT, "params": params})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> DenseRetriever:
        """Read a retriever written by :meth:`save` (the encoder is loaded again for the queries)."""
        path = Path(path)
        meta_file = path / "dense.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved dense retriever (no dense.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file}: unsupported format {meta.get('format')!r}, expected {FORMAT!r}")
        retriever = cls(**meta["params"])
        retriever.vectors = load_index(path / "vectors", mmap)
        retriever.doc_ids = json.loads((path / "doc_ids.json").read_text())
        if len(retriever.doc_ids) != retriever.vectors.ntotal:
            raise ValueError(f"{path}: {len(retriever.doc_ids)} doc ids for {retriever.vectors.ntotal} vectors")
        return retriever

    def __repr__(self) -> str:
        return f"DenseRetriever(encoder={self.encoder!r}, index={self.index_name!r}, docs={self.n_docs})"


@hookimpl
def register_components(register: Any) -> None:
    register(
        "retrieval.retriever",
        "dense",
        DenseRetriever,
        summary="Bi-encoder retrieval (offline MiniLM or a trained encoder) over an exact or faiss index; cached.",
    )
