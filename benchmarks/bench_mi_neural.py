"""Neural variational MI estimators on a few tasks with known MI: error and time per estimate (training included).

Run: python benchmarks/bench_mi_neural.py [--smoke]. Writes benchmarks/results/mi_neural.json atomically.
Default settings of each estimator (separable critic, Adam 1e-3, batch 128, early stopping after 10 held-out
evaluations without improvement) except max_steps; torch threads as set by --threads.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_mi_classical import write_atomically

from infomix.mi import KSGEstimator, task
from infomix.mi.neural import InfoNCEEstimator, MINEEstimator, NWJEstimator, SMILEEstimator

ESTIMATORS = {"mine": MINEEstimator, "nwj": NWJEstimator, "infonce": InfoNCEEstimator, "smile": SMILEEstimator}
TASKS = ["1v1-normal-0.75", "5v5-normal-2pair", "3v3-student-dof2", "5v5-normal-5pair-0.9"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mi_neural.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks, sizes, steps = (TASKS[:1], [500], 200) if args.smoke else (TASKS, [500, 2000], 1500)
    rows = []
    for name in tasks:
        t = task(name)
        for n in sizes:
            x, y = t.sample(n, seed=n)
            estimators = {k: cls(max_steps=steps) for k, cls in ESTIMATORS.items()}
            estimators["ksg-k5"] = KSGEstimator(k=5, n_resamples=0)
            for est_name, est in estimators.items():
                start = time.perf_counter()
                r = est.estimate(x, y)
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "task": name,
                        "n": n,
                        "estimator": est_name,
                        "true": t.mutual_information,
                        "value": r.value,
                        "error": r.value - t.mutual_information,
                        "steps": r.info.get("steps"),
                        "seconds": seconds,
                    }
                )
                print(
                    f"{name} n={n} {est_name}: {r.value:.3f} (true {t.mutual_information:.3f}) {seconds:.2f} s",
                    flush=True,
                )
    summary = []
    for est_name in [*ESTIMATORS, "ksg-k5"]:
        for n in sizes:
            rs = [r for r in rows if r["estimator"] == est_name and r["n"] == n]
            summary.append(
                {
                    "estimator": est_name,
                    "n": n,
                    "mae": float(np.mean([abs(r["error"]) for r in rs])),
                    "median_seconds": statistics.median(r["seconds"] for r in rs),
                }
            )
    data = {
        "benchmark": "mi_neural",
        "smoke": args.smoke,
        "config": {"tasks": tasks, "n": sizes, "max_steps": steps, "seed": "n"},
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "dtype": "float32",
        },
        "summary": summary,
        "rows": rows,
    }
    write_atomically(args.out, data)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
