"""Document-level splits: deterministic, independent of other documents, in the requested proportions."""

from __future__ import annotations

import random
import uuid

import pytest

from infomix.data.splits import SPLITS, assign_split, check_split, unit_hash


def test_split_depends_only_on_the_id():
    ids = [uuid.uuid4().hex for _ in range(2000)]
    first = {i: assign_split("d", i) for i in ids}
    shuffled = ids[:]
    random.shuffle(shuffled)
    assert {i: assign_split("d", i) for i in shuffled[:500]} == {i: first[i] for i in shuffled[:500]}


def test_split_proportions_match_fractions():
    ids = [uuid.uuid4().hex for _ in range(20000)]
    fractions = (0.7, 0.2, 0.1)
    counts = dict.fromkeys(SPLITS, 0)
    for i in ids:
        counts[assign_split("dom", i, fractions)] += 1
    for split, f in zip(SPLITS, fractions, strict=True):
        sd = (f * (1 - f) / len(ids)) ** 0.5
        assert abs(counts[split] / len(ids) - f) < 5 * sd, (split, counts)


def test_domains_split_independently():
    ids = [uuid.uuid4().hex for _ in range(3000)]
    same = sum(assign_split("a", i) == assign_split("b", i) for i in ids) / len(ids)
    assert abs(same - (0.8**2 + 0.1**2 + 0.1**2)) < 0.04  # independent assignments agree by chance only


def test_unit_hash_range_and_stability():
    values = [unit_hash("x", str(i)) for i in range(1000)]
    assert all(0 <= v < 1 for v in values)
    assert len(set(values)) == 1000
    assert unit_hash("a", "b") == unit_hash("a", "b") != unit_hash("a\x1fb")


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="fractions must be three numbers"):
        assign_split("d", "x", fractions)


def test_bad_split_name():
    with pytest.raises(ValueError, match="split must be one of"):
        check_split("dev")
