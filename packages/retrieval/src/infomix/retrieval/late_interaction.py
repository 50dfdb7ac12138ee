"""Late interaction (ColBERT's MaxSim): score(q, d) = Σ over query tokens of the best-matching doc token."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_tokens(embeddings: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length [L_i, dim] token embeddings into [n, L_max, dim] with a validity mask [n, L_max]."""
    if not embeddings:
        raise ValueError("embeddings must contain at least one [tokens, dim] tensor")
    dims = {e.shape[-1] for e in embeddings}
    if len(dims) != 1 or any(e.ndim != 2 or e.shape[0] == 0 for e in embeddings):
        raise ValueError("every item must be a non-empty [tokens, dim] tensor with the same dim")
    longest = max(e.shape[0] for e in embeddings)
    padded = embeddings[0].new_zeros(len(embeddings), longest, dims.pop())
    mask = torch.zeros(len(embeddings), longest, dtype=torch.bool)
    for i, e in enumerate(embeddings):
        padded[i, : e.shape[0]], mask[i, : e.shape[0]] = e, True
    return padded, mask


def maxsim(
    queries: torch.Tensor, query_mask: torch.Tensor, docs: torch.Tensor, doc_mask: torch.Tensor, chunk: int = 256
) -> torch.Tensor:
    """MaxSim scores [Q, N] of padded queries [Q, Lq, dim] against padded docs [N, Ld, dim], `chunk` docs at a time."""
    if queries.shape[-1] != docs.shape[-1]:
        raise ValueError(f"queries and docs must share the embedding dim, got {queries.shape[-1]} and {docs.shape[-1]}")
    out = queries.new_empty(queries.shape[0], docs.shape[0])
    neg = torch.finfo(queries.dtype).min
    for start in range(0, docs.shape[0], chunk):
        block, block_mask = docs[start : start + chunk], doc_mask[start : start + chunk]
        sims = torch.einsum("qid,njd->qnij", queries, block).masked_fill(~block_mask[None, :, None, :], neg)
        best = sims.amax(dim=-1).masked_fill(~query_mask[:, None, :], 0.0)
        out[:, start : start + chunk] = best.sum(dim=-1)
    return out


class LateInteractionIndex:
    """Token embeddings of a document set, searched by MaxSim over all docs or over pre-filtered candidates.

    The pre-filter finds each query token's ``candidates_per_token`` nearest doc tokens (by inner product)
    and re-scores only the documents they belong to, as ColBERT's candidate generation does.
    """

    def __init__(self, doc_tokens: Sequence[torch.Tensor]) -> None:
        self.docs, self.mask = pad_tokens(doc_tokens)
        self.flat = self.docs[self.mask]  # [total tokens, dim]
        self.owner = torch.arange(len(doc_tokens)).repeat_interleave(self.mask.sum(dim=1))

    def search(
        self, query_tokens: torch.Tensor, k: int = 10, candidates_per_token: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (doc ids, scores) for one query [Lq, dim]; exhaustive when `candidates_per_token` is None."""
        if query_tokens.ndim != 2 or query_tokens.shape[0] == 0:
            raise ValueError(f"query_tokens must be a non-empty [tokens, dim] tensor, got {tuple(query_tokens.shape)}")
        if not 1 <= k <= self.docs.shape[0]:
            raise ValueError(f"k must be in [1, {self.docs.shape[0]}], got {k}")
        if candidates_per_token is None:
            ids = torch.arange(self.docs.shape[0])
        else:
            nearest = torch.topk(query_tokens @ self.flat.T, min(candidates_per_token, self.flat.shape[0]), dim=1)
            ids = torch.unique(self.owner[nearest.indices.flatten()])
        q_mask = torch.ones(1, query_tokens.shape[0], dtype=torch.bool)
        scores = maxsim(query_tokens[None], q_mask, self.docs[ids], self.mask[ids])[0]
        top = torch.topk(scores, min(k, ids.numel()))
        return ids[top.indices], top.values
