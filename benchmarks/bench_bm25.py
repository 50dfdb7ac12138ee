"""BM25 indexing and query throughput, infomix vs bm25s (numpy backend) and rank-bm25, at equal scores.

Corpus: Cranfield's raw document text (the text between `.I` lines, 1,400 docs) and its 225 queries, repeated to
make a longer query stream. Both libraries use the same tokenisation (bm25s's default plus the English Snowball
stemmer); query timings start from tokenized queries, index timings from raw text and from tokens. Scores are
checked equal first (ours = (k1 + 1) x bm25s's for the Lucene variant, which bm25s scales down by that constant).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run (not written to the results file)")
    default_data = Path(os.environ.get("INFOMIX_DATA", ROOT.parent / "shared" / "data")) / "cranfield"
    parser.add_argument("--data", type=Path, default=default_data, help="folder with cran.all.1400 and cran.qry")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--query-copies", type=int, default=8, help="times the 225 queries are repeated")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS})")
    args = parser.parse_args()

    try:
        import bm25s
        import rank_bm25
        import Stemmer
    except ImportError as error:
        print(f"bench_bm25 skipped: {error.name} is not installed (pip install 'infomix-retrieval[test]')")
        return 0
    if not (args.data / "cran.all.1400").is_file():
        print(f"bench_bm25 skipped: no Cranfield text under {args.data} (set INFOMIX_DATA or --data)")
        return 0
    import scipy

    from infomix.retrieval import BM25

    docs = raw_records(args.data / "cran.all.1400")
    queries = raw_records(args.data / "cran.qry")
    if args.smoke:
        docs, queries, args.repeats, args.query_copies, args.threads = docs[:200], queries[:20], 1, 1, [1, 2]
    queries = queries * args.query_copies
    k1, b = 1.5, 0.75
    stemmer = Stemmer.Stemmer("english")

    def bm25s_tokens(texts, ids=True):
        return bm25s.tokenize(texts, stemmer=stemmer, show_progress=False, return_ids=ids)

    ours = BM25("lucene", k1=k1, b=b, stemmer="english")
    doc_tokens = ours.tokenizer.tokenize(docs)
    query_tokens = ours.tokenizer.tokenize(queries)
    assert doc_tokens == bm25s_tokens(docs, ids=False), "tokenisations differ"
    theirs = bm25s.BM25(method="lucene", k1=k1, b=b)
    theirs.index(bm25s_tokens(docs), show_progress=False)
    ours.index(doc_tokens)

    ks = [10, 1000] if not args.smoke else [10, 100]
    k_max = min(max(ks), len(docs))
    # equal scores: every variant bm25s has, top-k_max of every distinct query
    score_check = {}
    for variant in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
        factor = k1 + 1 if variant in ("lucene", "robertson") else 1.0
        a = BM25(variant, k1=k1, b=b, delta=0.5, score_absent_terms=True, stemmer="english").index(doc_tokens)
        r = bm25s.BM25(method=variant, k1=k1, b=b, delta=0.5)
        r.index(bm25s_tokens(docs), show_progress=False)
        distinct = query_tokens[: len(queries) // args.query_copies]
        got = a.search(distinct, k=k_max).scores
        ref = r.retrieve(distinct, k=k_max, show_progress=False)[1] * factor
        score_check[variant] = {"max_rel_diff": float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-6)))}
    okapi = rank_bm25.BM25Okapi(doc_tokens, k1=k1, b=b, epsilon=0.0)
    robertson = BM25("robertson", k1=k1, b=b, dtype="float64", stemmer="english").index(doc_tokens)
    rank_diff = max(float(np.max(np.abs(robertson.get_scores(q) - okapi.get_scores(q)))) for q in query_tokens[:20])
    score_check["robertson_vs_rank_bm25"] = {"max_abs_diff": rank_diff}
    print("score agreement:", json.dumps(score_check))

    rows = []

    def record(task, impl, seconds, n, **extra):
        row = {"task": task, "impl": impl, "seconds": seconds, "per_second": n / seconds} | extra
        rows.append(row)
        print(f"{task:28s} {impl:10s} {seconds * 1e3:9.2f} ms  {n / seconds:10.1f}/s  {extra or ''}")

    def index_ours():
        BM25("lucene", k1=k1, b=b, stemmer="english").index(docs)

    def index_theirs():
        bm25s.BM25(method="lucene", k1=k1, b=b).index(bm25s_tokens(docs), show_progress=False)

    def index_ours_tokens():
        BM25("lucene", k1=k1, b=b).index(doc_tokens)

    def index_theirs_tokens():
        bm25s.BM25(method="lucene", k1=k1, b=b).index(doc_tokens, show_progress=False)

    for task, fns in (
        ("index from text", (index_ours, index_theirs)),
        ("index from tokens", (index_ours_tokens, index_theirs_tokens)),
    ):
        for impl, fn in zip(("infomix", "bm25s"), fns, strict=True):
            record(task, impl, median_time(fn, args.repeats), len(docs), unit="docs")

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
            record(task, "infomix", t_ours, len(queries), unit="queries")
            record(task, "bm25s", t_theirs, len(queries), unit="queries")
    n_rank = min(len(queries), 40)

    def rank_bm25_top():
        for q in query_tokens[:n_rank]:
            np.argpartition(-okapi.get_scores(q), k_max - 1)[:k_max]

    record(f"query top-{k_max} threads=1", "rank-bm25", median_time(rank_bm25_top, 1), n_rank, unit="queries")

    by_key = {(r["task"], r["impl"]): r for r in rows}
    ratios = {}
    for (task, impl), row in by_key.items():
        if impl == "infomix":
            for other in ("bm25s", "rank-bm25"):
                if (task, other) in by_key:
                    ratios[f"{task}: infomix / {other} throughput"] = (
                        row["per_second"] / by_key[(task, other)]["per_second"]
                    )
    for name, value in ratios.items():
        print(f"{name:60s} {value:6.2f}x")

    import torch

    report = {
        "benchmark": "bm25",
        "smoke": args.smoke,
        "corpus": {
            "name": "cranfield raw text",
            "docs": len(docs),
            "queries": len(queries),
            "copies": args.query_copies,
        },
        "params": {
            "variant": "lucene",
            "k1": k1,
            "b": b,
            "tokenizer": "bm25s preset + english Snowball",
            "dtype": "float32",
        },
        "repeats": args.repeats,
        "statistic": "median",
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "bm25s": bm25s.__version__,
            "bm25s_backend": "numpy",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "load_average": os.getloadavg(),
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
    ok = all(v.get("max_rel_diff", v.get("max_abs_diff", 0)) < 1e-5 for v in score_check.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
