"""MINDE (trained conditional/unconditional denoiser) against KSG and the learned estimator on mi tasks with known MI.

Run: python benchmarks/mi/diffusion/bench_minde.py [--smoke]. Writes benchmarks/results/minde.json atomically.
MINDE: EDM MLP 128×3, Adam 2e-3, batch 256, σ ∈ [0.01, 50] with 32 Gauss–Legendre nodes in log σ, 30 % held out.
KSG: k = 5, subsampling interval. Learned: the shipped checkpoint (conformal 90% interval). Each task and seed: one
sample of n rows given to every estimator. Torch threads 1.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_diffusion_samplers import write_atomically

from infomix.core.threads import torch_threads
from infomix.mi import KSGEstimator, task
from infomix.mi.diffusion.minde import MINDEEstimator
from infomix.mi.learned.estimator import LearnedEstimator

RESULTS = Path(__file__).resolve().parents[2] / "results" / "minde.json"
ESTIMATORS = ("minde", "ksg-k5", "learned")
TASKS = ["1v1-normal-0.75", "3v3-normal-2pair", "5v5-normal-dense-0.5", "1v1-halfcube-0.75", "3v3-student-dof2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    tasks, n, steps, seeds = (TASKS[:1], 1000, 200, [0]) if args.smoke else (TASKS, 4000, 3000, [0, 1])
    rows = []
    start_all = time.perf_counter()
    with torch_threads(1):
        for name in tasks:
            t = task(name)
            for seed in seeds:
                x, y = t.sample(n, seed=100 + seed)
                for est_name, est in {
                    "minde": MINDEEstimator(steps=steps, seed=seed),
                    "ksg-k5": KSGEstimator(k=5, seed=seed),
                    "learned": LearnedEstimator(threads=1),
                }.items():
                    start = time.perf_counter()
                    r = est.estimate(x, y)
                    seconds = time.perf_counter() - start
                    rows.append(
                        {
                            "task": name,
                            "seed": seed,
                            "n": n,
                            "estimator": est_name,
                            "true": t.mutual_information,
                            "value": r.value,
                            "lower": r.lower,
                            "upper": r.upper,
                            "error": r.value - t.mutual_information,
                            "seconds": seconds,
                        }
                    )
                    print(
                        f"{name} seed {seed} {est_name}: {r.value:.3f} [{r.lower:.3f}, {r.upper:.3f}] "
                        f"(true {t.mutual_information:.3f}) {seconds:.1f} s",
                        flush=True,
                    )
    summary = []
    for est_name in ESTIMATORS:
        sel = [r for r in rows if r["estimator"] == est_name]
        summary.append(
            {
                "estimator": est_name,
                "mae": float(np.mean([abs(r["error"]) for r in sel])),
                "coverage": float(np.mean([r["lower"] <= r["true"] <= r["upper"] for r in sel])),
                "median_seconds": statistics.median(r["seconds"] for r in sel),
            }
        )
    data = {
        "benchmark": "minde",
        "smoke": args.smoke,
        "config": {"tasks": tasks, "n": n, "minde_steps": steps, "seeds": seeds, "ksg_k": 5},
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1},
        "seconds": time.perf_counter() - start_all,
        "summary": summary,
        "rows": rows,
    }
    write_atomically(args.out, data)
    print("| task | true | " + " | ".join(f"{e} (seed {s})" for e in ESTIMATORS for s in seeds) + " |")
    for name in tasks:
        cells = [
            f"{r['value']:.3f}"
            for e in ESTIMATORS
            for s in seeds
            for r in rows
            if r["task"] == name and r["estimator"] == e and r["seed"] == s
        ]
        print(f"| {name} | {task(name).mutual_information:.3f} | " + " | ".join(cells) + " |")
    for s in summary:
        print(s)


if __name__ == "__main__":
    main()
