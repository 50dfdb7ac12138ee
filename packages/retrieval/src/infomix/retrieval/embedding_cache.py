"""Embeddings cached on disk, keyed by the encoder's fingerprint and a hash of the exact texts; atomic writes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from infomix.core.io import atomic_file


class Encoder(Protocol):
    """What the cache needs of an encoder: a fingerprint of its weights/settings and ``encode``."""

    fingerprint: str

    def encode(self, texts: Sequence[str], batch_size: int = ..., progress: bool = ...) -> np.ndarray: ...


def texts_fingerprint(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (each length-prefixed, so ["ab", "c"] and ["a", "bc"] differ)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def default_folder() -> Path:
    from infomix.data.cache import cache_dir

    return cache_dir("embeddings")


class EmbeddingCache:
    """A folder of ``<encoder>-<texts>.npy`` files; a missing or mismatched file is recomputed and replaced."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()

    def path(self, encoder_fingerprint: str, texts: Sequence[str]) -> Path:
        return self.folder / f"{encoder_fingerprint[:20]}-{texts_fingerprint(texts)[:20]}.npy"

    def get(self, encoder_fingerprint: str, texts: Sequence[str]) -> np.ndarray | None:
        path = self.path(encoder_fingerprint, texts)
        if not path.is_file():
            return None
        try:
            array = np.load(path)
        except (ValueError, OSError):
            return None
        return array if array.ndim == 2 and array.shape[0] == len(texts) else None

    def put(self, encoder_fingerprint: str, texts: Sequence[str], embeddings: np.ndarray) -> Path:
        path = self.path(encoder_fingerprint, texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(embeddings))
        return path

    def encode(self, encoder: Encoder, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        """``encoder.encode(texts, **kwargs)``, read from the cache when this encoder already embedded these texts."""
        cached = self.get(encoder.fingerprint, texts)
        if cached is not None:
            return cached
        embeddings = np.asarray(encoder.encode(texts, **kwargs), dtype=np.float32)
        self.put(encoder.fingerprint, texts, embeddings)
        return embeddings
