"""Deterministic document-level train/validation/test splits, decided by a hash of each document id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def unit_hash(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts` alone (the first 64 bits of their sha256)."""
    digest = hashlib.sha256(json.dumps(list(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(not 0 <= f <= 1 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(
            f"fractions must be three numbers in [0, 1] summing to 1 (train, validation, test), got {tuple(fractions)}"
        )
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def assign_split(domain: str, doc_id: str, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The split of one document: depends only on (domain, id, fractions), never on other documents."""
    train, validation, _ = check_fractions(fractions)
    u = unit_hash("split", domain, doc_id)
    if u < train:
        return "train"
    return "validation" if u < train + validation else "test"


def check_split(split: str | None) -> str | None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None (all), got {split!r}")
    return split
