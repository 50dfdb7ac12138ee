"""MixtureCorpus: reproducible, streaming byte- or token-level batches drawn from domains by a mixture vector."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from infomix.data.corpus import Corpus, Entry
from infomix.data.errors import DataError, MissingDependency, SourceUnavailable
from infomix.data.splits import check_split
from infomix.data.tokenize.byte import ByteTokenizer


class DomainSkipped(UserWarning):
    """A domain of a mixture could not be fetched on this machine and was left out (weights renormalised)."""


@dataclass(frozen=True)
class Batch:
    """`tokens` [batch, seq_len + 1] (inputs are tokens[:, :-1], targets tokens[:, 1:]); `domains` [batch]."""

    tokens: torch.Tensor
    domains: torch.Tensor


def _encoder(tokenizer: Any) -> Callable[[str], list[int]]:
    if hasattr(tokenizer, "encode_ordinary"):  # tiktoken: no special-token parsing in corpus text
        return tokenizer.encode_ordinary

    def encode(text: str) -> list[int]:
        out = tokenizer.encode(text)
        return list(out.ids) if hasattr(out, "ids") else list(out)

    return encode


def _eot(tokenizer: Any) -> int | None:
    """The end-of-text id: ByteTokenizer.eot, tiktoken's eot_token, or a `tokenizers` '<|endoftext|>' token."""
    for attr in ("eot", "eot_token"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    if hasattr(tokenizer, "token_to_id"):
        value = tokenizer.token_to_id("<|endoftext|>")
        return value if isinstance(value, int) else None
    return None


class _Stream:
    """One domain's documents in a seeded random order (reshuffled each pass), tokenized lazily."""

    def __init__(
        self,
        corpus: Corpus,
        entries: list[Entry],
        rng: np.random.Generator,
        encode: Callable[[str], list[int]],
        eot: int | None,
    ) -> None:
        self.corpus, self.entries, self.rng, self.encode, self.eot = corpus, entries, rng, encode, eot
        self.order: list[int] = []
        self.buffer: list[int] = []
        self.epochs = 0

    def _next_document(self) -> list[int]:
        if not self.order:
            self.order = self.rng.permutation(len(self.entries)).tolist()[::-1]
            self.epochs += 1
        ids = self.encode(self.corpus.read(self.entries[self.order.pop()]).text)
        return [*ids, self.eot] if self.eot is not None else ids

    def take(self, n: int) -> list[int]:
        while len(self.buffer) < n:
            self.buffer.extend(self._next_document())
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


class MixtureCorpus:
    """Batches whose rows come from domain d with probability ``weights[d]``.

    Each row is the next ``seq_len + 1`` tokens of its domain's stream (documents in a seeded random
    order, joined by the end-of-text token). Only document positions are kept in memory. The same
    seed gives the same batches. Domains that cannot be fetched are skipped with a `DomainSkipped`
    warning and the remaining weights renormalised (``skip_unavailable=False`` raises instead).
    The default tokenizer is `ByteTokenizer` (byte-level); any object with ``encode`` works.
    """

    def __init__(
        self,
        domains: Sequence[str | Corpus],
        weights: Sequence[float] | Mapping[str, float],
        split: str = "train",
        seq_len: int = 256,
        batch_size: int = 8,
        seed: int = 0,
        tokenizer: Any = None,
        max_bytes: int | None = None,
        skip_unavailable: bool = True,
    ) -> None:
        from infomix.data.domains import get_domain

        corpora = [d if isinstance(d, Corpus) else get_domain(d, max_bytes=max_bytes) for d in domains]
        names = [c.name for c in corpora]
        if len(set(names)) != len(names):
            raise ValueError(f"domains must be distinct, got {names}")
        w = self._weights(weights, names)
        if not (isinstance(seq_len, int) and seq_len > 0 and isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"seq_len and batch_size must be positive ints, got {seq_len!r}, {batch_size!r}")
        self.split = check_split(split) or "train"
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.tokenizer = tokenizer if tokenizer is not None else ByteTokenizer()
        self.skipped: dict[str, str] = {}
        self.corpora: list[Corpus] = []
        self._entries: list[list[Entry]] = []
        kept = []
        for corpus, weight in zip(corpora, w, strict=True):
            if weight == 0:
                continue
            try:
                entries = corpus.entries(self.split)
                if not entries:
                    raise DataError(f"domain {corpus.name!r} has no documents in split {self.split!r}")
            except (SourceUnavailable, MissingDependency, DataError) as exc:
                if not skip_unavailable:
                    raise
                self.skipped[corpus.name] = str(exc)
                warnings.warn(f"mixture: skipping domain {corpus.name!r}: {exc}", DomainSkipped, stacklevel=2)
                continue
            self.corpora.append(corpus)
            self._entries.append(entries)
            kept.append(weight)
        if not self.corpora:
            raise DataError(f"no domain of the mixture is available: {self.skipped}")
        self.weights = np.asarray(kept, dtype=np.float64) / sum(kept)
        self.names = [c.name for c in self.corpora]
        self.reset()

    @staticmethod
    def _weights(weights: Sequence[float] | Mapping[str, float], names: list[str]) -> list[float]:
        if isinstance(weights, Mapping):
            unknown = set(weights) - set(names)
            if unknown:
                raise ValueError(f"weights name unknown domains {sorted(unknown)}; domains: {names}")
            weights = [float(weights.get(n, 0.0)) for n in names]
        w = [float(x) for x in weights]
        if len(w) != len(names):
            raise ValueError(f"weights must have one entry per domain ({len(names)}), got {len(w)}")
        if any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, got {w}")
        return w

    def reset(self) -> None:
        """Start again from the first batch of this seed."""
        self._rng = np.random.default_rng([self.seed, 0])
        encode, eot = _encoder(self.tokenizer), _eot(self.tokenizer)
        self._streams = [
            _Stream(c, e, np.random.default_rng([self.seed, 1, i]), encode, eot)
            for i, (c, e) in enumerate(zip(self.corpora, self._entries, strict=True))
        ]

    def next_batch(self) -> Batch:
        choice = self._rng.choice(len(self.corpora), size=self.batch_size, p=self.weights)
        rows = [self._streams[d].take(self.seq_len + 1) for d in choice]
        return Batch(torch.tensor(rows, dtype=torch.long), torch.as_tensor(choice, dtype=torch.long))

    def batches(self, n: int | None = None) -> Iterator[Batch]:
        """`n` batches (forever when None)."""
        count = 0
        while n is None or count < n:
            yield self.next_batch()
            count += 1

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()
