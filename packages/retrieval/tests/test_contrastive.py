"""Contriever-style training pieces: random crops, InfoNCE against a hand computation, the MoCo queue."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomix.core.threads import torch_threads
from infomix.retrieval.contrastive import (
    MoCoQueue,
    TextEncoder,
    info_nce,
    momentum_update,
    random_crop,
    train_contriever,
)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # tiny models: extra threads only wait for each other
        yield


def test_random_crop_is_a_contiguous_span_of_the_right_length():
    rng = np.random.default_rng(0)
    ids = list(range(100, 200))
    for _ in range(50):
        crop = random_crop(ids, 0.1, 0.5, rng)
        assert 10 <= len(crop) <= 50
        assert crop == list(range(crop[0], crop[0] + len(crop)))
    deleted = random_crop(ids, 1.0, 1.0, rng, delete_prob=0.5)
    assert 0 < len(deleted) < 100 and deleted == sorted(deleted)
    assert random_crop([], 0.1, 0.5, rng) == []
    with pytest.raises(ValueError, match="ratio_min"):
        random_crop(ids, 0.6, 0.5, rng)


def test_info_nce_equals_hand_computation():
    gen = torch.Generator().manual_seed(3)
    q, k = torch.randn(4, 6, generator=gen, dtype=torch.float64), torch.randn(4, 6, generator=gen, dtype=torch.float64)
    neg = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    tau = 0.3
    for negatives in (None, neg):
        keys = k if negatives is None else torch.cat([k, negatives])
        total = 0.0
        for i in range(4):
            logits = [float(q[i] @ keys[j]) / tau for j in range(len(keys))]
            total += -(logits[i] - math.log(sum(math.exp(v) for v in logits)))
        assert info_nce(q, k, tau, negatives).item() == pytest.approx(total / 4, rel=1e-12)


def test_moco_queue_is_fifo():
    queue = MoCoQueue(size=5, dim=2)
    batches = [torch.tensor([[float(i), -float(i)] for i in range(s, s + 3)]) for s in (0, 3, 6)]
    queue.enqueue(batches[0])
    assert len(queue) == 3 and queue.keys()[:, 0].tolist() == [0, 1, 2]
    queue.enqueue(batches[1])
    assert queue.keys()[:, 0].tolist() == [1, 2, 3, 4, 5]  # oldest (0) dropped
    queue.enqueue(batches[2])
    assert queue.keys()[:, 0].tolist() == [4, 5, 6, 7, 8]
    queue.enqueue(torch.arange(14.0).view(7, 2))  # more than fits: keep the newest five
    assert queue.keys()[:, 0].tolist() == [4, 6, 8, 10, 12]


def test_momentum_update_closed_form():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in a.parameters()]
    momentum_update(a, b, 0.9)
    for p, old, s in zip(a.parameters(), before, b.parameters(), strict=True):
        torch.testing.assert_close(p, 0.9 * old + 0.1 * s.detach())


TEXTS = [f"topic{t} " + " ".join(f"w{t}_{i % 7} filler{i % 3}" for i in range(20)) for t in range(24)]


@pytest.mark.parametrize("moco", [False, True])
def test_training_runs_and_encoder_round_trips(tmp_path, moco):
    encoder, log = train_contriever(TEXTS, steps=12, batch_size=8, dim=16, n_layers=1, n_heads=2, warmup=2,
                                    moco=moco, queue_size=16, log_every=4, progress=False)  # fmt: skip
    assert [row["step"] for row in log] == [4, 8, 12] and all(math.isfinite(r["loss"]) for r in log)
    vectors = encoder.encode(TEXTS[:5], progress=False)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    encoder.save(tmp_path / "enc")
    loaded = TextEncoder.load(tmp_path / "enc")
    np.testing.assert_allclose(loaded.encode(TEXTS[:5], progress=False), vectors, atol=1e-6)
    assert loaded.fingerprint == encoder.fingerprint
