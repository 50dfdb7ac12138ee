"""Classical MI estimators on tasks with known MI: error, bias, 90%-interval coverage, time; KSG KD-tree vs exact.

Run: python benchmarks/bench_mi_classical.py [--smoke]. Writes benchmarks/results/mi_classical.json
(atomically). Datasets are standardised-free raw samples of the named tasks (estimators standardise
themselves where they need to); every (task, n, seed) dataset is drawn once and shared by all estimators.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from infomix.core.io import atomic_write_text
from infomix.mi import (
    GaussianCopulaEstimator,
    GaussianEstimator,
    HistogramEstimator,
    KSG2Estimator,
    KSGEstimator,
    task,
)
from infomix.mi.ksg import ksg_counts_exact, ksg_counts_kdtree

TASKS = [
    "1v1-normal-0.75",
    "1v1-uniform-margins-0.75",
    "1v1-halfcube-0.75",
    "1v1-wiggly-0.75",
    "1v1-additive-0.1",
    "1v1-additive-0.75",
    "1v1-student-dof1",
    "1v1-asinh-student-dof1",
    "2v2-normal-dense-0.5",
    "3v3-normal-dense-0.5",
    "5v5-normal-dense-0.5",
    "25v25-normal-dense-0.5",
    "3v3-normal-2pair",
    "5v5-normal-2pair",
    "5v5-normal-5pair-0.9",
    "5v5-independent",
    "2v2-student-dof1",
    "3v3-student-dof2",
    "5v5-student-dof3",
    "2v2-asinh-student-dof1",
    "3v3-asinh-student-dof2",
    "3v3-halfcube-2pair",
    "5v5-uniform-margins-2pair",
    "3v3-spiral-2pair",
    "5v5-spiral-2pair",
]


def estimators(n: int, dims: int, resamples: int) -> dict[str, object]:
    """The estimators run on a dataset of n rows in dims = d_x + d_y dimensions (with 90% intervals)."""
    with_interval = n <= 1000  # resampling intervals of KSG at n = 5000 would dominate the run time
    ksg_resamples = resamples if with_interval and dims <= 10 else 0
    out: dict[str, object] = {
        "gaussian": GaussianEstimator(n_bootstrap=100, confidence=0.9),
        "copula": GaussianCopulaEstimator(n_bootstrap=100, confidence=0.9),
    }
    if dims <= 4:
        out["histogram"] = HistogramEstimator(confidence=0.9)
    if dims <= 10 or n <= 1000:
        out["ksg-k3"] = KSGEstimator(k=3, n_resamples=ksg_resamples)
        out["ksg-k5"] = KSGEstimator(k=5, n_resamples=ksg_resamples)
        out["ksg2-k5"] = KSG2Estimator(k=5, n_resamples=0)
    if with_interval and dims <= 4:
        out["ksg-k5-bootstrap"] = KSGEstimator(k=5, interval="bootstrap", n_resamples=resamples)
    return out


def family(name: str) -> str:
    if "spiral" in name:
        return "spiral"
    if "student" in name:
        return "student"
    return "other"


def run_grid(tasks: list[str], sizes: list[int], seeds: list[int], resamples: int) -> list[dict]:
    rows = []
    for name in tasks:
        t = task(name)
        truth = t.mutual_information
        for n in sizes:
            for seed in seeds:
                x, y = t.sample(n, seed=10_000 * seed + n)
                for est_name, est in estimators(n, t.dim_x + t.dim_y, resamples).items():
                    start = time.perf_counter()
                    r = est.estimate(x, y)
                    seconds = time.perf_counter() - start
                    rows.append(
                        {
                            "task": name,
                            "family": family(name),
                            "n": n,
                            "seed": seed,
                            "estimator": est_name,
                            "true": truth,
                            "value": r.value,
                            "lower": r.lower,
                            "upper": r.upper,
                            "seconds": seconds,
                        }
                    )
            print(f"{name} n={n} done", flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for fam in ("all", r["family"]):
            groups.setdefault((r["estimator"], r["n"], fam), []).append(r)
    out = []
    for (est, n, fam), rs in sorted(groups.items()):
        errors = [r["value"] - r["true"] for r in rs]
        with_interval = [r for r in rs if r["lower"] is not None]
        out.append(
            {
                "estimator": est,
                "n": n,
                "family": fam,
                "datasets": len(rs),
                "mae": float(np.mean(np.abs(errors))),
                "bias": float(np.mean(errors)),
                "coverage_90": (
                    float(np.mean([r["lower"] <= r["true"] <= r["upper"] for r in with_interval]))
                    if with_interval
                    else None
                ),
                "intervals": len(with_interval),
                "median_seconds": float(statistics.median(r["seconds"] for r in rs)),
            }
        )
    return out


def kdtree_vs_exact(sizes: list[int], dims: list[int], repeats: int) -> list[dict]:
    """Wall time of the KSG counts: cKDTree path vs the O(n²) reference, same data, median of repeats."""
    out = []
    rng = np.random.default_rng(0)
    for n in sizes:
        for d in dims:
            x = rng.standard_normal((n, d))
            y = 0.6 * x + 0.8 * rng.standard_normal((n, d))
            timings = {}
            for label, fn in (("exact", ksg_counts_exact), ("kdtree", ksg_counts_kdtree)):
                ts = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    counts = fn(x, y, 5, 1)
                    ts.append(time.perf_counter() - start)
                timings[label] = statistics.median(ts)
                timings[label + "_counts"] = counts
            pairs = zip(timings["exact_counts"], timings["kdtree_counts"], strict=True)
            same = all(np.array_equal(a, b) for a, b in pairs)
            out.append(
                {
                    "n": n,
                    "dim_x": d,
                    "dim_y": d,
                    "k": 5,
                    "exact_s": timings["exact"],
                    "kdtree_s": timings["kdtree"],
                    "speedup": timings["exact"] / timings["kdtree"],
                    "identical_counts": same,
                }
            )
            print(f"kdtree vs exact n={n} d={d}: {out[-1]['speedup']:.1f}x", flush=True)
    return out


def write_atomically(path: Path, data: dict) -> None:
    """`data` as JSON (indent 1) at `path`, written atomically and readable by all."""
    os.chmod(atomic_write_text(path, json.dumps(data, indent=1)), 0o644)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mi_classical.json")
    args = parser.parse_args()
    if args.smoke:
        tasks, sizes, seeds, resamples = [*TASKS[:3], "3v3-spiral-2pair"], [100, 300], [0], 5
        speed = kdtree_vs_exact([300], [1], 1)
    else:
        tasks, sizes, seeds, resamples = TASKS, [100, 500, 1000, 5000], [0, 1, 2], 20
        speed = kdtree_vs_exact([500, 2000], [1, 5], 3)
    start = time.perf_counter()
    rows = run_grid(tasks, sizes, seeds, resamples)
    import scipy

    data = {
        "benchmark": "mi_classical",
        "smoke": args.smoke,
        "config": {"tasks": tasks, "n": sizes, "seeds": seeds, "resamples": resamples, "confidence": 0.9},
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "cpus": os.cpu_count(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS"),
            "dtype": "float64",
        },
        "seconds_total": time.perf_counter() - start,
        "summary": summarise(rows),
        "ksg_kdtree_vs_exact": speed,
        "rows": rows,
    }
    write_atomically(args.out, data)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
