"""The learned estimator above its trained n (disjoint chunks of <= 5000 rows, averaged) vs copula, tcopula, KSG.

Run: python benchmarks/mi/bench_learned_large_n.py [--sizes 10000 20000] [--seeds 0-2]. Writes
benchmarks/results/mi_learned_large_n.json (atomically) and prints a table. Tasks: the named in-family tasks of
bench_learned.py (the held-out ones fail every estimator at any n); each dataset is drawn once and shared.
Intervals: learned (one chunk's, conservative), copula (basic bootstrap, 100); tcopula and KSG give points only.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from bench_learned import TASKS, family, held_out, parse_seeds, timed  # benchmarks/mi/bench_learned.py

from infomix.core.io import atomic_write_json
from infomix.mi import GaussianCopulaEstimator, KSGEstimator, TCopulaEstimator, task
from infomix.mi.learned.estimator import LearnedEstimator

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000])
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2], help="e.g. 0-2 or 0,3,5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results" / "mi_learned_large_n.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    estimators = {
        "learned": LearnedEstimator(threads=args.threads),
        "copula": GaussianCopulaEstimator(n_bootstrap=100, confidence=0.9),
        "tcopula": TCopulaEstimator(n_bootstrap=0),
        "ksg-k3": KSGEstimator(k=3, n_resamples=0),
    }
    start = time.perf_counter()
    rows = []
    for name in [t for t in TASKS if not held_out(t)]:
        t = task(name)
        for n in args.sizes:
            for seed in args.seeds:
                x, y = t.sample(n, seed=seed)
                for est, estimator in estimators.items():
                    r, seconds = timed(estimator, x, y)
                    rows.append({"task": name, "family": family(name), "n": n, "seed": seed, "estimator": est,
                                 "true": t.mutual_information, "value": r.value, "lower": r.lower,
                                 "upper": r.upper, "seconds": seconds})  # fmt: skip
        print(f"{name} done", flush=True)
    summary = []
    for n in args.sizes:
        for group in ("in-family", "gaussian-copula", "student"):
            for est in estimators:
                rs = [r for r in rows if r["n"] == n and r["estimator"] == est and group in ("in-family", r["family"])]
                covered = [r["lower"] <= r["true"] <= r["upper"] for r in rs if r["lower"] is not None]
                summary.append({"n": n, "group": group, "estimator": est, "datasets": len(rs),
                                "mae": float(np.mean([abs(r["value"] - r["true"]) for r in rs])),
                                "bias": float(np.mean([r["value"] - r["true"] for r in rs])),
                                "coverage_90": float(np.mean(covered)) if covered else None,
                                "median_seconds": float(np.median([r["seconds"] for r in rs]))})  # fmt: skip
    result = {
        "benchmark": "mi_learned_large_n",
        "command": "python benchmarks/mi/bench_learned_large_n.py",
        "checkpoint": Path(estimators["learned"].path).name,  # type: ignore[attr-defined]
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads},
        "seconds": round(time.perf_counter() - start, 1),
        "summary": summary,
        "rows": rows,
    }
    atomic_write_json(args.out, result)
    print("| n | group | " + " | ".join(estimators) + " |")
    print("|---" * (2 + len(estimators)) + "|")
    for n in args.sizes:
        for group in ("in-family", "gaussian-copula", "student"):
            cells = []
            for est in estimators:
                s = next(s for s in summary if (s["n"], s["group"], s["estimator"]) == (n, group, est))
                cov = "—" if s["coverage_90"] is None else f"{s['coverage_90']:.2f}"
                cells.append(f"{s['mae']:.3f} / {cov} / {s['median_seconds']:.2f} s")
            print(f"| {n} | {group} | " + " | ".join(cells) + " |")
    print(f"wrote {args.out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
