"""Inference-free learned sparse retrieval (`retrieval.retriever:learned-sparse`), after OpenSearch's doc-only
neural sparse models (Geng et al., 2024): only documents pass through a model.

Document side: w_d(t) = max over positions i of log(1 + ReLU(logit_i(t))) over the vocabulary, where
logit_i(t) = h_i · E_t + b_t + α_t·[t = token_i] (h from a small encoder on `infomix.ops.attention`, E the
tied term embeddings; the learned α_t, initially 1, starts every document at its own terms). Query side: no
model, one-hot of the query's distinct terms × IDF. Score s(q, d) = Σ_{t ∈ q} idf(t) · w_d(t), so a term's
ranking gradient is scaled by its IDF ("IDF-aware"), while the FLOPS regulariser Σ_t (mean_d w_d(t))² is
uniform; its weight is ramped quadratically from 0 to λ over the first ``flops_ramp`` steps.

Training is unsupervised: the query is a random span of a document, the document is the rest (inverse cloze,
the span removed with probability ``remove_prob``), with in-batch negatives (InfoNCE on raw scores). Docs are
served from the BM25 inverted-index machinery: a terms × docs CSR matrix of idf(t)·w_d(t).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from infomix.core.hookspecs import hookimpl
from infomix.core.io import atomic_file, atomic_write_json
from infomix.retrieval.bm25 import BM25
from infomix.retrieval.progress import batches
from infomix.retrieval.results import SearchResults
from infomix.retrieval.small_encoder import PAD, UNK, EncoderConfig, SmallEncoder, Vocabulary, pad_ids
from infomix.retrieval.tokenizer import Tokenizer

FORMAT = "infomix-learned-sparse/1"


def log_relu(logits: torch.Tensor) -> torch.Tensor:
    """log(1 + ReLU(x)): nonnegative, zero for x ≤ 0, concave growth for x > 0."""
    return torch.log1p(torch.relu(logits))


def flops(weights: torch.Tensor) -> torch.Tensor:
    """The FLOPS regulariser of a batch of document weights [B, V]: Σ_t (mean_d |w_d(t)|)²."""
    return weights.abs().mean(dim=0).square().sum()


def flops_weight(step: int, final: float, ramp: int) -> float:
    """λ at ``step``: final · min(1, step / ramp)² (the quadratic warm-up of the sparse-model trainers)."""
    return final if ramp <= 0 else final * min(1.0, step / ramp) ** 2


def lucene_idf(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    """log(1 + (N − df + 0.5) / (df + 0.5)), always > 0."""
    df = np.asarray(doc_freq, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


class SparseDocEncoder(nn.Module):
    """ids [B, L] -> vocabulary weights [B, V] = max over real positions of log(1 + ReLU(logits))."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.encoder = SmallEncoder(config)
        self.bias = nn.Parameter(torch.full((config.vocab_size,), -1.0))
        self.self_weight = nn.Parameter(torch.full((config.vocab_size,), 2.0))

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-position vocabulary logits [B, L, V]."""
        hidden = self.encoder(ids, mask)
        logits = F.linear(hidden, self.encoder.embed.weight, self.bias)
        return logits.scatter_add_(2, ids[..., None], self.self_weight[ids][..., None])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # log(1 + ReLU(.)) is non-decreasing, so max-pooling the logits first gives the same weights.
        pooled = self.logits(ids, mask).masked_fill_(~mask[..., None], -1.0).amax(dim=1)
        weights = log_relu(pooled)
        keep = torch.ones(weights.shape[1], dtype=weights.dtype)
        keep[[PAD, UNK]] = 0
        return weights * keep


class LearnedSparse:
    """Inference-free learned sparse retriever; see the module docstring for the model and its training.

    ``index(docs)`` builds the vocabulary and IDF from ``docs``, trains the document encoder on them for
    ``steps`` (unless ``model`` already holds a trained :class:`SparseDocEncoder` for the same vocabulary), then
    stores idf(t)·w_d(t) in a BM25 inverted index; search runs there with each query's distinct terms.
    """

    def __init__(
        self,
        *,
        tokenizer: str | Tokenizer = "bm25s",
        stemmer: str | None = None,
        steps: int = 300,
        batch_size: int = 16,
        dim: int = 64,
        n_layers: int = 1,
        n_heads: int = 4,
        max_length: int = 192,
        lr: float = 2e-3,
        flops_lambda: float = 1e-3,
        flops_ramp: int = 100,
        remove_prob: float = 0.5,
        span_min: int = 3,
        span_max: int = 12,
        prune: float = 1e-3,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self.tokenizer = Tokenizer.preset(tokenizer, stemmer=stemmer) if isinstance(tokenizer, str) else tokenizer
        if not isinstance(self.tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a preset name or a Tokenizer, got {type(tokenizer).__name__}")
        for name, value in (("steps", steps), ("batch_size", batch_size), ("span_min", span_min),
                            ("span_max", span_max), ("max_length", max_length)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "steps" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if span_min > span_max:
            raise ValueError(f"span_min ({span_min}) must be <= span_max ({span_max})")
        if not 0 <= remove_prob <= 1 or flops_lambda < 0 or prune < 0:
            raise ValueError("need 0 <= remove_prob <= 1, flops_lambda >= 0 and prune >= 0")
        self.settings = {"steps": steps, "batch_size": batch_size, "dim": dim, "n_layers": n_layers,
                         "n_heads": n_heads, "max_length": max_length, "lr": lr, "flops_lambda": flops_lambda,
                         "flops_ramp": flops_ramp, "remove_prob": remove_prob, "span_min": span_min,
                         "span_max": span_max, "prune": prune, "seed": seed}  # fmt: skip
        self.progress = progress
        self.vocabulary: Vocabulary | None = None
        self.idf: np.ndarray | None = None
        self.model: SparseDocEncoder | None = None
        self.log: list[dict[str, float]] = []
        self._inverted: BM25 | None = None

    # ------------------------------------------------------------------------------------------------ training
    def fit(self, docs: Sequence[str]) -> LearnedSparse:
        """Build the vocabulary and IDF of ``docs`` and train the document encoder on them."""
        s = self.settings
        self.vocabulary = Vocabulary.build(docs, self.tokenizer)
        id_lists = [self.vocabulary.encode(d) for d in docs]
        df = np.zeros(len(self.vocabulary), dtype=np.int64)
        for ids in id_lists:
            df[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        self.idf = lucene_idf(df, len(docs)).astype(np.float32)
        self.idf[[PAD, UNK]] = 0.0
        config = EncoderConfig(len(self.vocabulary), s["dim"], s["n_layers"], s["n_heads"], max_length=s["max_length"])
        torch.manual_seed(s["seed"])
        self.model = SparseDocEncoder(config)
        self.log = train_sparse(self.model, id_lists, torch.from_numpy(self.idf), progress=self.progress, **{
            k: s[k] for k in ("steps", "batch_size", "lr", "flops_lambda", "flops_ramp", "remove_prob", "span_min",
                              "span_max", "seed")})  # fmt: skip
        return self

    @torch.inference_mode()
    def doc_weights(self, docs: Sequence[str], batch_size: int = 32) -> sp.csr_array:
        """w_d(t) of every doc as a sparse [docs, V] matrix (entries below ``prune`` dropped)."""
        if self.model is None or self.vocabulary is None:
            raise RuntimeError("LearnedSparse has no model: call fit(docs) or index(docs) first")
        self.model.eval()
        rows = []
        for chunk in batches(np.arange(len(docs)), batch_size, "sparse doc encoding", self.progress):
            ids, mask = pad_ids([self.vocabulary.encode(docs[i]) for i in chunk], self.settings["max_length"])
            w = self.model(ids, mask).numpy()
            w[w < self.settings["prune"]] = 0.0
            rows.append(sp.csr_array(w))
        return sp.vstack(rows, format="csr")

    # ------------------------------------------------------------------------------------------------ indexing
    def index(self, docs: Sequence[str], ids: Sequence[str] | None = None) -> LearnedSparse:
        """Train on ``docs`` (when no model fits their vocabulary), then index idf·w in an inverted index."""
        if isinstance(docs, str) or not isinstance(docs, Sequence) or len(docs) == 0:
            raise ValueError("docs must be a non-empty list of strings")
        if self.model is None:
            self.fit(docs)
        assert self.vocabulary is not None and self.idf is not None
        doc_ids = BM25._check_ids(ids, len(docs))
        impacts = (self.doc_weights(docs) * self.idf[None, :]).T.tocsr()  # terms × docs
        impacts.sort_indices()
        inverted = BM25(tokenizer=self.tokenizer)
        lengths = np.asarray([len(self.vocabulary.encode(d)) for d in docs], dtype=np.int64)
        index_dtype = np.int32
        inverted._set_index(impacts.data.astype(np.float32), impacts.indices.astype(index_dtype),
                            impacts.indptr.astype(index_dtype), dict(self.vocabulary.ids), doc_ids, lengths,
                            None)  # fmt: skip
        self._inverted = inverted
        return self

    @property
    def n_docs(self) -> int:
        return 0 if self._inverted is None else self._inverted.n_docs

    def query_terms(self, query: str) -> list[str]:
        """The distinct known terms of a query, in first-occurrence order (its one-hot)."""
        return list(dict.fromkeys(self.tokenizer(query)))

    def search(self, queries: Sequence[str], k: int = 10, *, threads: int | None = 1) -> SearchResults:
        """Top ``k`` docs per query by Σ_{t ∈ q} idf(t)·w_d(t), ties by corpus order."""
        if self._inverted is None:
            raise RuntimeError("LearnedSparse has no index: call index(docs) or LearnedSparse.load(path) first")
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise TypeError(f"queries must be a list of strings, got {type(queries).__name__}")
        return self._inverted.search([self.query_terms(q) for q in queries], k, threads=threads)

    def scores(self, query: str) -> np.ndarray:
        """Every doc's score for one query, in index order."""
        if self._inverted is None:
            raise RuntimeError("LearnedSparse has no index")
        return self._inverted.get_scores(self.query_terms(query))

    # ------------------------------------------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the inverted index (and the trained encoder, for re-indexing) to the folder ``path``."""
        if self._inverted is None or self.model is None or self.vocabulary is None:
            raise RuntimeError("LearnedSparse has no index: nothing to save")
        path = Path(path)
        self._inverted.save(path / "inverted")
        with atomic_file(path / "encoder.pt") as tmp:
            torch.save(self.model.state_dict(), tmp)
        meta = {"format": FORMAT, "settings": self.settings, "tokenizer": self.tokenizer.config(),
                "vocabulary": self.vocabulary.config(), "idf": self.idf.tolist(), "log": self.log}  # fmt: skip
        atomic_write_json(path / "learned_sparse.json", meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> LearnedSparse:
        path = Path(path)
        meta_file = path / "learned_sparse.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved learned sparse index (no learned_sparse.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file}: unsupported format {meta.get('format')!r}, expected {FORMAT!r}")
        retriever = cls(tokenizer=Tokenizer(**meta["tokenizer"]), progress=False, **meta["settings"])
        retriever.vocabulary = Vocabulary.from_config(meta["vocabulary"])
        retriever.idf = np.asarray(meta["idf"], dtype=np.float32)
        s = retriever.settings
        config = EncoderConfig(
            len(retriever.vocabulary), s["dim"], s["n_layers"], s["n_heads"], max_length=s["max_length"]
        )
        retriever.model = SparseDocEncoder(config)
        retriever.model.load_state_dict(torch.load(path / "encoder.pt", weights_only=True))
        retriever.log = meta["log"]
        retriever._inverted = BM25.load(path / "inverted", mmap=mmap)
        return retriever


def _ict_pair(ids: list[int], rng: np.random.Generator, span_min: int, span_max: int, remove_prob: float
              ) -> tuple[list[int], list[int]]:  # fmt: skip
    """(query span, document) from one document's ids: the span is cut out of the document w.p. remove_prob."""
    length = int(rng.integers(span_min, span_max + 1))
    length = max(1, min(length, len(ids) // 2))
    start = int(rng.integers(0, len(ids) - length + 1))
    span = ids[start : start + length]
    doc = ids[:start] + ids[start + length :] if rng.random() < remove_prob else ids
    return span, doc


def train_sparse(
    model: SparseDocEncoder,
    docs: Sequence[list[int]],
    idf: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 2e-3,
    flops_lambda: float = 1e-3,
    flops_ramp: int = 100,
    remove_prob: float = 0.5,
    span_min: int = 3,
    span_max: int = 12,
    seed: int = 0,
    progress: bool = True,
    log_every: int = 25,
) -> list[dict[str, float]]:
    """Train ``model`` in place by inverse-cloze InfoNCE + ramped FLOPS; returns a log of losses and doc sizes."""
    docs = [d for d in docs if len(d) >= 4]
    if len(docs) < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} documents with 4 or more terms, got {len(docs)}")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    max_length = model.encoder.config.max_length
    vocab = idf.shape[0]
    log: list[dict[str, float]] = []
    start = time.perf_counter()
    sums = {"rank": 0.0, "flops": 0.0, "nnz": 0.0}
    model.train()
    for step in batches(np.arange(steps), 1, "learned sparse training", progress):
        n = int(step[0]) + 1
        pairs = [_ict_pair(docs[i], rng, span_min, span_max, remove_prob)
                 for i in rng.choice(len(docs), size=batch_size, replace=False)]  # fmt: skip
        query = torch.zeros(batch_size, vocab)
        for j, (span, _) in enumerate(pairs):
            query[j, span] = 1.0
        query = query * idf  # one-hot × IDF
        ids, mask = pad_ids([d for _, d in pairs], max_length)
        weights = model(ids, mask)
        scores = query @ weights.T  # [queries, docs]
        rank_loss = F.cross_entropy(scores, torch.arange(batch_size))
        reg = flops(weights)
        loss = rank_loss + flops_weight(n, flops_lambda, flops_ramp) * reg
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        sums["rank"] += rank_loss.item()
        sums["flops"] += reg.item()
        sums["nnz"] += (weights > 0).sum(dim=1).float().mean().item()
        if n % log_every == 0 or n == steps:
            count = log_every if n % log_every == 0 else n % log_every
            log.append({"step": n, **{k: round(v / count, 4) for k, v in sums.items()},
                        "lambda": flops_weight(n, flops_lambda, flops_ramp),
                        "seconds": round(time.perf_counter() - start, 2)})  # fmt: skip
            sums = dict.fromkeys(sums, 0.0)
    model.eval()
    return log


@hookimpl
def register_components(register: Any) -> None:
    register(
        "retrieval.retriever",
        "learned-sparse",
        LearnedSparse,
        summary="Inference-free learned sparse: doc-side log(1+ReLU) weights, query = terms × IDF, FLOPS-regularised.",
    )
