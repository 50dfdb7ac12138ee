"""The free-embedding experiment: how many documents can d-dimensional vectors serve top-k for, at best?

Query and document vectors are optimised directly on the qrels (no encoder at all), with full-batch Adam
on InfoNCE averaged over each query's positives, temperature 0.1, re-normalising to the unit sphere after
every step (Weller et al., 2025). If even free vectors cannot put every query's k relevant documents on
top, no embedding model of that dimension can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from infomix.core.threads import torch_threads
from infomix.retrieval.limit import qrel_matrix


@dataclass(frozen=True)
class FreeEmbeddingResult:
    """Whether every query's top-k equals its relevant set, the fraction that do, and steps taken."""

    solved: bool
    accuracy: float
    steps: int
    loss: float


def top_k_accuracy(queries: torch.Tensor, docs: torch.Tensor, relevant: torch.Tensor) -> float:
    """Fraction of queries whose k highest-scoring documents are exactly their k relevant ones."""
    k = int(relevant.sum(dim=1).max())
    top = torch.topk(queries @ docs.T, k, dim=1).indices
    hits = torch.gather(relevant, 1, top).sum(dim=1)
    return float((hits == relevant.sum(dim=1)).float().mean())


def solve_free_embedding(
    relevant: np.ndarray,
    dim: int,
    *,
    max_steps: int = 3000,
    lr: float = 0.05,
    temperature: float = 0.1,
    check_every: int = 25,
    seed: int = 0,
) -> FreeEmbeddingResult:
    """Optimise unit query and document vectors in `dim` dimensions for the binary qrels `relevant` [Q, N]."""
    rel = torch.as_tensor(np.asarray(relevant, dtype=bool))
    if rel.ndim != 2 or not rel.any(dim=1).all():
        raise ValueError("relevant must be a [queries, docs] boolean matrix with a relevant doc in every row")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    with torch_threads(1):  # the problem is tiny: threads only add synchronisation
        return _optimise(rel, dim, max_steps, lr, temperature, check_every, seed)


def _optimise(
    rel: torch.Tensor, dim: int, max_steps: int, lr: float, temperature: float, check_every: int, seed: int
) -> FreeEmbeddingResult:
    gen = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(rel.shape[0], dim, generator=gen), dim=1).requires_grad_()
    d = torch.nn.functional.normalize(torch.randn(rel.shape[1], dim, generator=gen), dim=1).requires_grad_()
    opt = torch.optim.Adam([q, d], lr=lr)
    weights = rel.float() / rel.sum(dim=1, keepdim=True)
    accuracy, loss_value, step = 0.0, float("nan"), 0
    for step in range(1, max_steps + 1):
        log_probs = torch.log_softmax(q @ d.T / temperature, dim=1)
        loss = -(weights * log_probs).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            q.copy_(torch.nn.functional.normalize(q, dim=1))
            d.copy_(torch.nn.functional.normalize(d, dim=1))
        loss_value = float(loss.detach())
        if step % check_every == 0 or step == max_steps:
            with torch.no_grad():
                accuracy = top_k_accuracy(q, d, rel)
            if accuracy == 1.0:
                break
    return FreeEmbeddingResult(accuracy == 1.0, accuracy, step, loss_value)


def critical_n(dim: int, k: int = 2, n_max: int = 200, **solver: object) -> int:
    """The largest n for which free `dim`-dimensional vectors solve the dense pattern: all C(n, k) top-k sets."""
    best = k
    for n in range(k + 1, n_max + 1):
        matrix = qrel_matrix(n_queries=math.comb(n, k), k=k)
        if not solve_free_embedding(matrix, dim, **solver).solved:  # type: ignore[arg-type]
            break
        best = n
    return best


def published_critical_n(dim: int) -> float:
    """The cubic fit to critical n (k=2) reported in the LIMIT paper: −10.5322 + 4.0309d + 0.0520d² + 0.0037d³."""
    return -10.5322 + 4.0309 * dim + 0.0520 * dim**2 + 0.0037 * dim**3
