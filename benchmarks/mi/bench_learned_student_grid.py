"""Where the learned estimator's 90% interval holds on Student-t pairs: a grid of dof × Gaussian MI × d.

The student-pairs family sets the conformal scale at most sample sizes (`bench_learned.py`'s README), so this
script maps that family cell by cell: d paired coordinates x_i, y_i (i ≤ d) with equal correlations carrying
`gaussian_mi` nats in all, shared Student-t scale with `dof` degrees of freedom (true MI: the closed form of
`StudentTask`), fresh samples per cell. It prints bias, median width and coverage per cell, so the cells that
fail (the prior's dof edge, say) can be read off. Writes results/mi_learned_student_grid.json.

    python benchmarks/mi/bench_learned_student_grid.py                 # n = 1000 and 5000, 12 samples a cell
    python benchmarks/mi/bench_learned_student_grid.py --smoke
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np

from infomix.core.io import atomic_write_json
from infomix.mi.learned.estimator import LearnedEstimator
from infomix.mi.tasks import StudentTask, paired_correlation

RESULTS = Path(__file__).resolve().parents[1] / "results"
SEED = 79  # bench_learned.py uses 77, bench_learned_coverage.py 78


def paired_dispersion(dim: int, gaussian_mi: float) -> np.ndarray:
    """Correlation matrix of d pairs (x_i, y_i), each with Gaussian MI gaussian_mi / d."""
    return paired_correlation(dim, dim, dim, math.sqrt(1.0 - math.exp(-2.0 * gaussian_mi / dim)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--gaussian-mi", type=float, nargs="+", default=[0.0, 0.3, 1.5, 4.0])
    parser.add_argument("--dof", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0, 10.0])
    parser.add_argument("--samples", type=int, default=12, help="fresh samples per cell")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="3 samples of n = 1000, d = 1, two dofs")
    parser.add_argument("--out", type=Path, default=RESULTS / "mi_learned_student_grid.json")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.dims, args.gaussian_mi, args.dof, args.samples = [1000], [1], [0.3], [0.5, 4.0], 3
    estimator = LearnedEstimator(threads=args.threads)
    prior = estimator.meta["data_config"]
    start = time.perf_counter()
    cells = []
    for n, dim, gmi, dof in itertools.product(args.sizes, args.dims, args.gaussian_mi, args.dof):
        task = StudentTask(dim, dim, dof=dof, dispersion=paired_dispersion(dim, gmi))
        truth = task.mutual_information
        estimates = []
        for i in range(args.samples):
            x, y = task.sample(n, seed=int(np.random.default_rng([SEED, n, dim, i]).integers(2**31)))
            estimates.append(estimator.estimate(x, y))
        values = np.array([e.value for e in estimates])
        cells.append(
            {
                "n": n, "dim": dim, "gaussian_mi": gmi, "dof": dof, "true": truth,
                "bias": float(values.mean() - truth),
                "median_width": float(np.median([e.upper - e.lower for e in estimates])),
                "coverage": float(np.mean([e.lower <= truth <= e.upper for e in estimates])),
                "dof_inside_prior": bool(prior["min_dof"] <= dof <= prior["max_dof"]),
            }
        )  # fmt: skip
        c = cells[-1]
        print(f"n={n} d={dim} gaussian MI {gmi} dof {dof:<4} true {truth:.3f} bias {c['bias']:+.3f} "
              f"width {c['median_width']:.3f} coverage {c['coverage']:.2f}", flush=True)  # fmt: skip
    summary = [
        {
            "n": n, "dof": dof,
            "coverage": float(np.mean([c["coverage"] for c in rows])),
            "mean_abs_bias": float(np.mean([abs(c["bias"]) for c in rows])),
        }
        for n, dof in itertools.product(args.sizes, args.dof)
        for rows in [[c for c in cells if c["n"] == n and c["dof"] == dof]]
    ]  # fmt: skip
    atomic_write_json(args.out, {
        "benchmark": "mi_learned_student_grid", "checkpoint": Path(estimator.path).name,
        "prior": {k: prior[k] for k in ("min_dof", "max_dof", "max_mi")},
        "command": "python benchmarks/mi/bench_learned_student_grid.py" + (" --smoke" if args.smoke else ""),
        "samples_per_cell": args.samples, "seconds": round(time.perf_counter() - start, 1),
        "by_n_and_dof": summary, "cells": cells,
    })  # fmt: skip
    print("| n | dof | coverage (mean over d, Gaussian MI) | mean abs bias |\n|---|---|---|---|")
    for row in summary:
        print(f"| {row['n']} | {row['dof']} | {row['coverage']:.2f} | {row['mean_abs_bias']:.3f} |")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
