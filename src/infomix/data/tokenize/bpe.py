"""Train a byte-level BPE on a corpus (GPT-2 pre-tokenization), keeping the ordered merge list."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infomix.core.io import atomic_write_bytes
from infomix.data.deps import require

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

Pair = tuple[int, int]


def pretokenize(text: str) -> list[bytes]:
    """Split `text` into GPT-2 pre-tokens (letters, digits, punctuation runs, whitespace), as UTF-8 bytes."""
    regex = require("regex", "BPE pre-tokenization")
    return [m.encode("utf-8") for m in regex.findall(GPT2_PATTERN, text)]


def word_counts(texts: Iterable[str]) -> Counter[bytes]:
    counts: Counter[bytes] = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    return counts


@dataclass
class BPETokenizer:
    """Byte-level BPE: ids 0-255 are bytes, id 256+i is the merge ``merges[i]`` (a pair of ids)."""

    merges: list[Pair]
    pair_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.vocab: list[bytes] = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            if not (a < len(self.vocab) and b < len(self.vocab)):
                raise ValueError(f"merge ({a}, {b}) refers to an id not defined before it")
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self._cache: dict[bytes, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def merge_bytes(self) -> list[tuple[bytes, bytes]]:
        """The merges as byte strings, in the order they were learned."""
        return [(self.vocab[a], self.vocab[b]) for a, b in self.merges]

    def encode_word(self, word: bytes) -> list[int]:
        if word in self._cache:
            return self._cache[word]
        ids = list(word)
        while len(ids) > 1:
            ranked = [(self.ranks.get(p, len(self.ranks)), i) for i, p in enumerate(itertools.pairwise(ids))]
            rank, _ = min(ranked)
            if rank == len(self.ranks):
                break
            ids = _merge(ids, self.merges[rank], 256 + rank)
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        return [i for word in pretokenize(text) for i in self.encode_word(word)]

    def decode(self, ids: Sequence[int]) -> str:
        return b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")

    def save(self, path: str | Path) -> Path:
        data = {"merges": self.merges, "pair_counts": self.pair_counts}
        return atomic_write_bytes(path, json.dumps(data).encode())

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        return cls([tuple(m) for m in data["merges"]], list(data.get("pair_counts", [])))


def _merge(ids: list[int], pair: Pair, new: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pairs(ids: list[int]) -> Counter[Pair]:
    return Counter(itertools.pairwise(ids))


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> BPETokenizer:
    """Learn merges until `vocab_size` ids (256 bytes + merges) or no pair occurs `min_frequency` times.

    Each step merges the most frequent adjacent pair within pre-tokens; ties go to the pair whose
    byte strings sort first, so training is deterministic. ``pair_counts[i]`` is the count of
    ``merges[i]`` when it was chosen (what data-mixture inference from merge lists reads).
    """
    if not isinstance(vocab_size, int) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an int >= 256 (the byte alphabet), got {vocab_size!r}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    counts = word_counts(texts)
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    vocab = [bytes([i]) for i in range(256)]
    stats: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = {}
    for w, (ids, f) in enumerate(zip(words, freqs, strict=True)):
        for pair, n in _pairs(ids).items():
            stats[pair] += n * f
            where.setdefault(pair, set()).add(w)
    merges: list[Pair] = []
    chosen_counts: list[int] = []
    while len(vocab) < vocab_size and stats:
        count = max(stats.values())
        pair = min((p for p, c in stats.items() if c == count), key=lambda p: (vocab[p[0]], vocab[p[1]]))
        if count < min_frequency:
            break
        new = len(vocab)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        merges.append(pair)
        chosen_counts.append(count)
        for w in sorted(where.pop(pair, ())):
            old = words[w]
            if len(old) < 2:
                continue
            merged = _merge(old, pair, new)
            if merged == old:
                continue
            for p, n in _pairs(old).items():
                stats[p] -= n * freqs[w]
                if stats[p] <= 0:
                    del stats[p]
            for p, n in _pairs(merged).items():
                stats[p] += n * freqs[w]
                where.setdefault(p, set()).add(w)
            words[w] = merged
        stats.pop(pair, None)
    return BPETokenizer(merges, chosen_counts)
