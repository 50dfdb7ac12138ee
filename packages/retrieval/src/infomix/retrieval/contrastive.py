"""Contriever-style unsupervised dense training: two independent random crops of a document are a positive pair,
scored by InfoNCE against in-batch negatives and, optionally, a MoCo queue of momentum-encoder keys.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from infomix.core.io import atomic_file, atomic_write_json
from infomix.retrieval.pooling import l2_normalise, mean_pool
from infomix.retrieval.progress import batches
from infomix.retrieval.small_encoder import EncoderConfig, SmallEncoder, Vocabulary, pad_ids


def random_crop(
    ids: Sequence[int], ratio_min: float, ratio_max: float, rng: np.random.Generator, delete_prob: float = 0.0
) -> list[int]:
    """A contiguous span of ``ids`` of length ⌊r·n⌋ (at least 1), r ~ U[ratio_min, ratio_max], at a uniform
    start; then each token is deleted with probability ``delete_prob`` (keeping at least one)."""
    if not 0 < ratio_min <= ratio_max <= 1:
        raise ValueError(f"need 0 < ratio_min <= ratio_max <= 1, got {ratio_min}, {ratio_max}")
    n = len(ids)
    if n == 0:
        return []
    length = max(1, int(rng.uniform(ratio_min, ratio_max) * n))
    start = int(rng.integers(0, n - length + 1))
    span = list(ids[start : start + length])
    if delete_prob > 0:
        kept = [t for t, drop in zip(span, rng.random(len(span)) < delete_prob, strict=True) if not drop]
        span = kept or span[:1]
    return span


def info_nce(
    queries: torch.Tensor, keys: torch.Tensor, temperature: float = 0.05, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over i of −log softmax_j(q_i·k_j / τ) at j = i, where j runs over the in-batch keys [B, D] and then
    the extra ``negatives`` [N, D] (a MoCo queue). Inputs are used as given (normalise them first for cosine)."""
    if queries.ndim != 2 or queries.shape != keys.shape:
        raise ValueError(f"queries and keys must both be [B, D], got {tuple(queries.shape)}, {tuple(keys.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = queries @ keys.T
    if negatives is not None and negatives.numel():
        logits = torch.cat([logits, queries @ negatives.T], dim=1)
    return F.cross_entropy(logits / temperature, torch.arange(queries.shape[0], device=queries.device))


class MoCoQueue:
    """A first-in first-out queue of the last ``size`` key vectors (MoCo's dictionary of negatives)."""

    def __init__(self, size: int, dim: int) -> None:
        if size < 1 or dim < 1:
            raise ValueError(f"size and dim must be >= 1, got {size}, {dim}")
        self.buffer = torch.zeros(size, dim)
        self.next = 0  # where the next key goes
        self.count = 0

    def enqueue(self, keys: torch.Tensor) -> None:
        """Append ``keys`` [n, dim] (detached); the oldest keys make room once the queue is full."""
        keys = keys.detach().to(self.buffer.dtype)
        size = self.buffer.shape[0]
        if keys.shape[0] > size:
            keys = keys[-size:]
        rows = (self.next + torch.arange(keys.shape[0])) % size
        self.buffer[rows] = keys
        self.next = (self.next + keys.shape[0]) % size
        self.count = min(size, self.count + keys.shape[0])

    def keys(self) -> torch.Tensor:
        """The queued keys [count, dim], oldest first."""
        if self.count < self.buffer.shape[0]:
            return self.buffer[: self.count]
        return torch.roll(self.buffer, -self.next, dims=0)

    def __len__(self) -> int:
        return self.count


@torch.no_grad()
def momentum_update(target: torch.nn.Module, source: torch.nn.Module, momentum: float) -> None:
    """target ← momentum · target + (1 − momentum) · source, parameter by parameter."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


class TextEncoder:
    """A trained :class:`SmallEncoder` with its vocabulary: texts -> mean-pooled, L2-normalised embeddings."""

    def __init__(self, vocabulary: Vocabulary, model: SmallEncoder) -> None:
        self.vocabulary, self.model = vocabulary, model
        self.dim = model.config.dim
        self._fingerprint: str | None = None

    def batch(self, id_lists: Sequence[Sequence[int]]) -> torch.Tensor:
        ids, mask = pad_ids(id_lists, self.model.config.max_length)
        return l2_normalise(mean_pool(self.model(ids, mask), mask))

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        self.model.eval()
        with torch.inference_mode():
            for chunk in batches(np.arange(len(texts)), batch_size, "encoding", progress):
                out[chunk] = self.batch([self.vocabulary.encode(texts[i]) for i in chunk]).numpy()
        return out

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256(json.dumps([self.model.config_dict(), self.vocabulary.config()]).encode())
            for name, tensor in sorted(self.model.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_file(path / "weights.pt") as tmp:
            torch.save(self.model.state_dict(), tmp)
        atomic_write_json(path / "encoder.json", {"config": self.model.config_dict(),
                                                  "vocabulary": self.vocabulary.config()})  # fmt: skip
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextEncoder:
        path = Path(path)
        meta = json.loads((path / "encoder.json").read_text())
        model = SmallEncoder(EncoderConfig(**meta["config"]))
        model.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
        return cls(Vocabulary.from_config(meta["vocabulary"]), model.eval())

    def __repr__(self) -> str:
        c = self.model.config
        return f"TextEncoder(vocab={len(self.vocabulary)}, dim={c.dim}, layers={c.n_layers})"


def train_contriever(
    texts: Sequence[str],
    *,
    steps: int = 500,
    batch_size: int = 64,
    dim: int = 128,
    n_layers: int = 2,
    n_heads: int = 4,
    max_length: int = 256,
    lr: float = 5e-4,
    warmup: int = 50,
    temperature: float = 0.05,
    ratio_min: float = 0.1,
    ratio_max: float = 0.5,
    delete_prob: float = 0.1,
    moco: bool = False,
    queue_size: int = 1024,
    momentum: float = 0.999,
    min_count: int = 1,
    tokenizer: str = "words",
    seed: int = 0,
    progress: bool = True,
    log_every: int = 50,
) -> tuple[TextEncoder, list[dict[str, float]]]:
    """Train a :class:`TextEncoder` on ``texts`` alone (no labels); returns it and a loss log.

    Each step samples ``batch_size`` documents and two independent random crops of each (``random_crop``);
    without ``moco`` both crops go through the encoder and each crop's key is its twin (in-batch negatives);
    with ``moco`` the keys come from a momentum copy of the encoder and the previous keys, kept in a
    ``queue_size`` FIFO queue, are extra negatives. AdamW with linear warm-up then cosine decay.
    """
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2, got {steps}, {batch_size}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary.build(texts, tokenizer, min_count=min_count)
    docs = [ids[:max_length] for ids in (vocabulary.encode(t) for t in texts) if len(ids) >= 2]
    if len(docs) < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} texts with 2 or more terms, got {len(docs)}")
    model = SmallEncoder(EncoderConfig(len(vocabulary), dim, n_layers, n_heads, max_length=max_length))
    encoder = TextEncoder(vocabulary, model)
    key_model = copy.deepcopy(model).requires_grad_(False) if moco else None
    queue = MoCoQueue(queue_size, dim) if moco else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    log: list[dict[str, float]] = []
    start, running = time.perf_counter(), 0.0
    model.train()
    for step in batches(np.arange(steps), 1, "contrastive training", progress):
        picks = rng.choice(len(docs), size=batch_size, replace=False)
        first = [random_crop(docs[i], ratio_min, ratio_max, rng, delete_prob) for i in picks]
        second = [random_crop(docs[i], ratio_min, ratio_max, rng, delete_prob) for i in picks]
        q = encoder.batch(first)
        if key_model is None:
            loss = info_nce(q, encoder.batch(second), temperature)
        else:
            with torch.no_grad():
                ids, mask = pad_ids(second, max_length)
                k = l2_normalise(mean_pool(key_model(ids, mask), mask))
            loss = info_nce(q, k, temperature, queue.keys() if queue is not None else None)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if key_model is not None and queue is not None:
            momentum_update(key_model, model, momentum)
            queue.enqueue(k)
        running += loss.item()
        n = int(step[0]) + 1
        if n % log_every == 0 or n == steps:
            log.append({"step": n, "loss": running / (log_every if n % log_every == 0 else n % log_every),
                        "seconds": round(time.perf_counter() - start, 2)})  # fmt: skip
            running = 0.0
    model.eval()
    encoder._fingerprint = None
    return encoder, log
