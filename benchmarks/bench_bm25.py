"""BM25 indexing and query throughput, infomix vs bm25s (numpy backend) and rank-bm25, at equal scores.

Corpora: Cranfield's raw document text (the text between `.I` lines, 1,400 docs) with its 225 queries, and the
paragraphs of CPython's standard library sources (38.5k docs) with 500 held-out first lines as queries; Cranfield's
query list is repeated to make a longer stream. Both libraries use the same tokenisation (bm25s's default plus the
English Snowball stemmer); query timings start from tokenized queries, index timings from raw text and from tokens.
Scores are checked equal first (ours = (k1 + 1) x bm25s's for the Lucene and Robertson variants, from which bm25s
drops that constant).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bm25.json"


def raw_records(path: Path) -> list[str]:
    return [chunk for chunk in re.split(r"^\.I .*$", path.read_text(), flags=re.M) if chunk.strip()]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stdlib_corpus(limit: int | None) -> tuple[list[str], list[str]]:
    """Paragraphs (blank-line separated, >= 5 words) of CPython's standard library sources; every 20th
    paragraph is held out and its first line becomes a query."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paragraphs = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        paragraphs += [p for p in re.split(r"\n\s*\n", text) if len(p.split()) >= 5]
    paragraphs = paragraphs[:limit]
    queries = [p.strip().splitlines()[0] for p in paragraphs[::20]]
    docs = [p for i, p in enumerate(paragraphs) if i % 20]
    return docs, queries


def bench_corpus(name, docs, queries, ks, args, libs) -> tuple[list[dict], dict]:
    """Score agreement, then index and query timings of infomix and bm25s (and rank-bm25 queries) on one corpus."""
    bm25s, rank_bm25, stemmer, BM25 = libs
    k1, b = 1.5, 0.75

    def bm25s_tokens(texts, ids=True):
        return bm25s.tokenize(texts, stemmer=stemmer, show_progress=False, return_ids=ids)

    ours = BM25("lucene", k1=k1, b=b, stemmer="english")
    doc_tokens = ours.tokenizer.tokenize(docs)
    distinct_queries = ours.tokenizer.tokenize(queries)
    copies = args.query_copies if name == "cranfield" else 1
    query_tokens = distinct_queries * copies
    assert doc_tokens == bm25s_tokens(docs, ids=False), "tokenisations differ"
    theirs = bm25s.BM25(method="lucene", k1=k1, b=b)
    theirs.index(bm25s_tokens(docs), show_progress=False)
    ours.index(doc_tokens)
    k_max = min(max(ks), len(docs))

    # equal scores: every variant bm25s has, the top k_max of every distinct query
    score_check = {}
    for variant in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
        factor = k1 + 1 if variant in ("lucene", "robertson") else 1.0
        a = BM25(variant, k1=k1, b=b, delta=0.5, score_absent_terms=True).index(doc_tokens)
        r = bm25s.BM25(method=variant, k1=k1, b=b, delta=0.5)
        r.index(doc_tokens, show_progress=False)
        got = a.search(distinct_queries, k=k_max).scores
        ref = r.retrieve(distinct_queries, k=k_max, show_progress=False)[1] * factor
        score_check[variant] = {"max_rel_diff": float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-6)))}
    okapi = rank_bm25.BM25Okapi(doc_tokens, k1=k1, b=b, epsilon=0.0)
    robertson = BM25("robertson", k1=k1, b=b, dtype="float64").index(doc_tokens)
    rank_diff = max(float(np.max(np.abs(robertson.get_scores(q) - okapi.get_scores(q)))) for q in distinct_queries[:10])
    score_check["robertson_vs_rank_bm25"] = {"max_abs_diff": rank_diff}
    print(f"[{name}] score agreement:", json.dumps(score_check))

    rows = []

    def record(task, impl, seconds, n, unit):
        row = {"corpus": name, "task": task, "impl": impl, "seconds": seconds, "per_second": n / seconds, "unit": unit}
        rows.append(row)
        print(f"[{name}] {task:26s} {impl:10s} {seconds * 1e3:9.2f} ms  {n / seconds:10.1f} {unit}/s")

    index_fns = {
        "index from text": (
            lambda: BM25("lucene", k1=k1, b=b, stemmer="english").index(docs),
            lambda: bm25s.BM25(method="lucene", k1=k1, b=b).index(bm25s_tokens(docs), show_progress=False),
        ),
        "index from tokens": (
            lambda: BM25("lucene", k1=k1, b=b).index(doc_tokens),
            lambda: bm25s.BM25(method="lucene", k1=k1, b=b).index(doc_tokens, show_progress=False),
        ),
    }
    for task, fns in index_fns.items():
        for impl, fn in zip(("infomix", "bm25s"), fns, strict=True):
            record(task, impl, median_time(fn, args.repeats), len(docs), "docs")

    for k in ks:
        for threads in args.threads:
            task = f"query top-{k} threads={threads}"
            t_ours = median_time(lambda k=k, t=threads: ours.search(query_tokens, k=k, threads=t), args.repeats)
            t_theirs = median_time(
                lambda k=k, t=threads: theirs.retrieve(
                    query_tokens, k=k, show_progress=False, n_threads=0 if t == 1 else t
                ),
                args.repeats,
            )
            record(task, "infomix", t_ours, len(query_tokens), "queries")
            record(task, "bm25s", t_theirs, len(query_tokens), "queries")
    n_rank = min(len(distinct_queries), 20)

    def rank_bm25_top():
        for q in distinct_queries[:n_rank]:
            np.argpartition(-okapi.get_scores(q), k_max - 1)[:k_max]

    record(f"query top-{k_max} threads=1", "rank-bm25", median_time(rank_bm25_top, 1), n_rank, "queries")
    return rows, score_check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run (not written to the results file)")
    default_data = Path(os.environ.get("INFOMIX_DATA", ROOT.parent / "shared" / "data")) / "cranfield"
    parser.add_argument("--data", type=Path, default=default_data, help="folder with cran.all.1400 and cran.qry")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--query-copies", type=int, default=8, help="times Cranfield's 225 queries are repeated")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--stdlib-paragraphs", type=int, default=None, help="cap on the stdlib corpus (default all)")
    parser.add_argument("--stdlib-queries", type=int, default=500, help="held-out stdlib lines used as queries")
    parser.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS})")
    args = parser.parse_args()

    try:
        import bm25s
        import rank_bm25
        import Stemmer
    except ImportError as error:
        print(f"bench_bm25 skipped: {error.name} is not installed (pip install 'infomix-retrieval[test]')")
        return 0
    import scipy

    from infomix.retrieval import BM25

    libs = (bm25s, rank_bm25, Stemmer.Stemmer("english"), BM25)
    corpora = {}
    if (args.data / "cran.all.1400").is_file():
        corpora["cranfield"] = (raw_records(args.data / "cran.all.1400"), raw_records(args.data / "cran.qry"))
    else:
        print(f"no Cranfield text under {args.data} (set INFOMIX_DATA or --data): timing the stdlib corpus only")
    docs, queries = stdlib_corpus(2000 if args.smoke else args.stdlib_paragraphs)
    corpora["python-stdlib"] = (docs, queries[: args.stdlib_queries])
    ks = [10, 1000]
    if args.smoke:
        corpora = {name: (docs[:300], queries[:20]) for name, (docs, queries) in corpora.items()}
        args.repeats, args.query_copies, args.threads, ks = 1, 1, [1, 2], [10, 100]

    rows, score_check = [], {}
    for name, (docs, queries) in corpora.items():
        corpus_rows, score_check[name] = bench_corpus(name, docs, queries, ks, args, libs)
        rows += corpus_rows

    by_key = {(r["corpus"], r["task"], r["impl"]): r for r in rows}
    ratios = {}
    for (corpus, task, impl), row in by_key.items():
        if impl == "infomix":
            for other in ("bm25s", "rank-bm25"):
                if (corpus, task, other) in by_key:
                    speedup = row["per_second"] / by_key[(corpus, task, other)]["per_second"]
                    ratios[f"{corpus} | {task} | infomix / {other}"] = speedup
    for name, value in ratios.items():
        print(f"{name:70s} {value:6.2f}x")

    import torch

    report = {
        "benchmark": "bm25",
        "smoke": args.smoke,
        "corpora": {
            name: {
                "docs": len(docs),
                "distinct_queries": len(queries),
                "query_copies": args.query_copies if name == "cranfield" else 1,
            }
            for name, (docs, queries) in corpora.items()
        },
        "params": {
            "variant": "lucene",
            "k1": 1.5,
            "b": 0.75,
            "tokenizer": "bm25s preset + english Snowball (PyStemmer)",
            "dtype": "float32",
            "bm25s_backend": "numpy",
        },
        "repeats": args.repeats,
        "statistic": "median",
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "bm25s": bm25s.__version__,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "load_average_at_end": os.getloadavg(),
        },
        "score_check": score_check,
        "results": rows,
        "ratios": ratios,
    }
    out = args.out or (Path(tempfile.gettempdir()) / "bm25_smoke.json" if args.smoke else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    diffs = [v.get("max_rel_diff", v.get("max_abs_diff", 0.0)) for c in score_check.values() for v in c.values()]
    return 0 if max(diffs) < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
