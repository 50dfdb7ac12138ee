"""ANNCUR vs retrieve-and-rerank at fixed cross-encoder budgets on Cranfield: recall of the exact top-k.

No cross-encoder ships offline, so the expensive scorer is a documented proxy: MaxSim late interaction over
all-MiniLM-L6-v2 token embeddings (every query token's best cosine over the document's tokens, summed). Like a
cross-encoder it scores each (query, document) pair jointly, costs one "call" per pair, and its score matrix is
not the low-rank matrix of a bi-encoder. Items: the 1,400 Cranfield abstracts (first 128 word pieces). Anchor
queries: 300 Cranfield titles (query-like text, seeded choice). Test queries: the 225 Cranfield queries.

For a budget of B calls per test query: ANNCUR spends k_i on the anchor items and B − k_i re-ranking its
approximate top items; retrieve-and-rerank spends all B re-ranking the top B of BM25 or of MiniLM (bi-encoder).
Metric: Recall@k of the exact proxy top-k (k = 1, 10, and 50 where at least 50 items are re-ranked).
Writes benchmarks/results/anncur.json and anncur.png.

    INFOMIX_DATA=../shared/data nice -n 5 python benchmarks/retrieval/bench_anncur.py
    python benchmarks/retrieval/bench_anncur.py --smoke
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infomix.core.io import atomic_write_json
from infomix.retrieval.anncur import ANNCUR, rerank_top, top_k_recall
from infomix.retrieval.late_interaction import maxsim, pad_tokens

RESULTS = Path(__file__).resolve().parents[1] / "results"


def proxy_scores(model: object, queries: list[str], docs: list[str], chunk: int = 8) -> np.ndarray:
    """MaxSim of every query against every doc over MiniLM token embeddings: [len(queries), len(docs)]."""
    q_pad, q_mask = pad_tokens(model.token_embeddings(queries, progress=True))  # type: ignore[attr-defined]
    d_pad, d_mask = pad_tokens(model.token_embeddings(docs, progress=True))  # type: ignore[attr-defined]
    with torch.inference_mode():
        return maxsim(q_pad, q_mask, d_pad, d_mask, chunk=chunk).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="200 docs, 50 anchor and 30 test queries")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from infomix.data.ir import load_cranfield
    from infomix.retrieval.bm25 import BM25
    from infomix.retrieval.minilm import MiniLM

    coll = load_cranfield()
    doc_ids = list(coll.docs)
    rng = np.random.default_rng(0)
    n_docs, n_anchor_q, n_test = (200, 50, 30) if args.smoke else (len(doc_ids), 300, len(coll.queries))
    doc_ids = doc_ids[:n_docs]
    docs = [coll.docs[d].text for d in doc_ids]
    titles = [coll.docs[d].title for d in doc_ids if coll.docs[d].title.strip()]
    anchor_texts = [titles[i] for i in rng.choice(len(titles), size=n_anchor_q, replace=False)]
    test_texts = list(coll.queries.values())[:n_test]

    start = time.perf_counter()
    model = MiniLM(max_length=128)
    scores = proxy_scores(model, anchor_texts + test_texts, docs)  # rows: anchors, then test queries
    proxy_seconds = time.perf_counter() - start

    def score_fn(query_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        return scores[np.ix_(query_ids, item_ids)]

    test_ids = np.arange(n_anchor_q, n_anchor_q + n_test)
    exact = scores[test_ids]
    budgets = [b for b in (25, 50, 100, 150, 200, 300, 500) if b <= n_docs]
    rows = []

    def record(method: str, budget: int, result: Any, extra: dict) -> None:
        found = result.items
        recalls = {f"R@{k}": round(top_k_recall(found[:, :k], exact, k), 4) for k in (1, 10, 50) if k <= found.shape[1]}
        row = {"method": method, "budget": budget, "calls_per_query": result.calls / n_test, **recalls, **extra}
        rows.append(row)
        print(f"{method:28s} budget {budget:4d}  calls/q {row['calls_per_query']:7.1f}  "
              + "  ".join(f"{k} {v:.3f}" for k, v in recalls.items()), flush=True)  # fmt: skip

    bm25 = BM25(stemmer="english").index(docs)
    bm25_first = np.stack([bm25.get_scores(t) for t in test_texts]).astype(np.float64)
    dense_docs = model.encode(docs, progress=False).astype(np.float64)
    dense_first = model.encode(test_texts, progress=False).astype(np.float64) @ dense_docs.T
    for budget in budgets:
        for name, first in (("BM25 + rerank", bm25_first), ("MiniLM bi-encoder + rerank", dense_first)):
            record(name, budget, rerank_top(score_fn, test_ids, first, min(50, budget), budget), {})
        for k_i in (25, 50, 100):
            if budget - k_i >= 10 and k_i <= n_anchor_q:
                anncur = ANNCUR(score_fn, n_docs, np.arange(n_anchor_q), k_i, seed=0)
                rerank = budget - k_i
                record(f"ANNCUR k_i={k_i}", budget, anncur.search(test_ids, min(50, rerank), rerank),
                       {"anchor_items": k_i, "anchor_queries": n_anchor_q})  # fmt: skip

    result = {
        "benchmark": "anncur",
        "command": "INFOMIX_DATA=../shared/data nice -n 5 python benchmarks/retrieval/bench_anncur.py"
        + (" --smoke" if args.smoke else ""),
        "setup": {
            "collection": "cranfield",
            "items": n_docs,
            "anchor_queries": f"{n_anchor_q} Cranfield titles (seed 0)",
            "test_queries": n_test,
            "scorer": "proxy cross-encoder: MaxSim over all-MiniLM-L6-v2 token embeddings (128 word pieces per "
            "doc); no cross-encoder model is available offline",
            "exact": "exact top-k = the proxy scorer over all items (n_docs calls per query)",
            "proxy_matrix_seconds": round(proxy_seconds, 1),
            "torch": torch.__version__,
            "threads": args.threads,
            "machine": platform.processor() or platform.machine(),
        },
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "anncur_smoke" if args.smoke else "anncur"
    atomic_write_json(RESULTS / f"{name}.json", result)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, k in zip(axes, (1, 10, 50), strict=True):
        for method in dict.fromkeys(r["method"] for r in rows):
            pts = [(r["calls_per_query"], r[f"R@{k}"]) for r in rows if r["method"] == method and f"R@{k}" in r]
            ax.plot(*zip(*pts, strict=True), "o-", label=method, ms=3)
        ax.set(xlabel="cross-encoder (proxy) calls per query", ylabel=f"Recall@{k} of exact top-{k}",
               title=f"Cranfield, {n_docs} items: top-{k}")  # fmt: skip
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
