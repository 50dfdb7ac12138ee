"""Coverage of the learned estimator's 90% interval on fresh draws of its own meta-training distribution.

The conformal scales are fitted on calibration draws; this script draws new distributions of the same
families (seeds disjoint from training, validation and calibration) and counts how often the interval holds
the true MI, per n and per family. It separates "the calibration works in-distribution" from the named
tasks of `bench_learned.py`, which sit at the edges of that distribution. It also reports the conformal factor
that would make the raw quantiles cover exactly 90% of these draws (`needed_scale`), pooled and per family,
beside the factor the estimator applied. Writes results/mi_learned_meta_coverage.json.

    python benchmarks/mi/bench_learned_coverage.py            # 400 draws per n
    python benchmarks/mi/bench_learned_coverage.py --smoke
    python benchmarks/mi/bench_learned_coverage.py --checkpoint RUN/estimator.pt --out FILE  # a candidate
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_learned import needed_scale  # benchmarks/mi/bench_learned.py

from infomix.core.io import atomic_write_json
from infomix.core.threads import torch_threads
from infomix.mi.learned.estimator import LearnedEstimator
from infomix.mi.learned.metadata import MetaDataConfig, draw_task

RESULTS = Path(__file__).resolve().parents[1] / "results"
SEED = 78  # bench_learned.py's meta grid uses 77; training and calibration use their own seed streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400, help="fresh distributions per n")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 5000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="20 draws at n = 100 and 500")
    parser.add_argument("--out", type=Path, default=None, help="default results/mi_learned_meta_coverage.json")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a learned-estimator checkpoint (needs --out)")
    args = parser.parse_args()
    if args.out is None:
        if args.checkpoint is not None:
            parser.error("--checkpoint needs --out (the shipped results stay as they are)")
        args.out = RESULTS / "mi_learned_meta_coverage.json"
    if args.checkpoint is not None and not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint} is not a file")
    if args.smoke:
        args.draws, args.sizes = 20, [100, 500]
    estimator = LearnedEstimator(checkpoint=args.checkpoint, threads=args.threads)
    config = MetaDataConfig.from_dict(estimator.meta["data_config"])
    start = time.perf_counter()
    rows = []
    with torch_threads(args.threads):
        for n in args.sizes:
            for i in range(args.draws):
                rng = np.random.default_rng([SEED, n, i])
                dx, dy = (int(v) for v in rng.integers(config.min_dim, config.max_dim + 1, size=2))
                drawn = draw_task(rng, n, dx, dy, config)
                r = estimator.estimate(drawn.x, drawn.y)
                q = r.info["quantiles"]
                rows.append({"n": n, "family": drawn.family, "transform": drawn.transform, "dims": [dx, dy],
                             "true": drawn.mutual_information, "value": r.value, "lower": r.lower,
                             "upper": r.upper, "raw": [q["0.05"], q["0.5"], q["0.95"]],
                             "applied_scale": r.info["interval_scale"]})  # fmt: skip
            print(f"n = {n} done", flush=True)
    coverage = {}
    for n in args.sizes:
        at_n = [r for r in rows if r["n"] == n]
        by_family = {}
        for fam in sorted({r["family"] for r in at_n}):
            rs = [r for r in at_n if r["family"] == fam]
            by_family[fam] = {
                "draws": len(rs),
                "coverage": float(np.mean([covered(r) for r in rs])),
                "needed_scale": needed_scale(rs),
                "applied_scale": float(np.mean([r["applied_scale"] for r in rs])),
            }
        coverage[str(n)] = {
            "draws": len(at_n),
            "coverage": float(np.mean([covered(r) for r in at_n])),
            "mae": float(np.mean([abs(r["value"] - r["true"]) for r in at_n])),
            "median_width": float(np.median([r["upper"] - r["lower"] for r in at_n])),
            "applied_scale": float(np.mean([r["applied_scale"] for r in at_n])),  # per sample: its cell's
            "needed_scale": needed_scale(at_n),
            "by_family": by_family,
        }
    result = {
        "benchmark": "mi_learned_meta_coverage",
        "checkpoint": Path(estimator.path).name,
        "command": "python benchmarks/mi/bench_learned_coverage.py"
        + (" --smoke" if args.smoke else "")
        + (f" --checkpoint {args.checkpoint}" if args.checkpoint else ""),
        "draws_per_n": args.draws,
        "seconds": round(time.perf_counter() - start, 1),
        "coverage": coverage,
        "rows": rows,
    }
    atomic_write_json(args.out, result)
    print("| n | draws | coverage | MAE | median width | lowest family coverage | factor applied (mean) / needed |")
    print("|---|---|---|---|---|---|---|")
    for n, c in coverage.items():
        worst = min(c["by_family"].items(), key=lambda kv: kv[1]["coverage"])
        top = max(c["by_family"].items(), key=lambda kv: kv[1]["needed_scale"])
        print(f"| {n} | {c['draws']} | {c['coverage']:.3f} | {c['mae']:.3f} | {c['median_width']:.3f} | "
              f"{worst[0]} {worst[1]['coverage']:.2f} ({worst[1]['draws']}) | {c['applied_scale']:.2f} / "
              f"{c['needed_scale']:.2f} (largest: {top[0]} {top[1]['needed_scale']:.2f} / "
              f"{top[1]['applied_scale']:.2f} applied) |")  # fmt: skip
    print(f"wrote {args.out} in {result['seconds']} s")


def covered(row: dict) -> bool:
    return row["lower"] <= row["true"] <= row["upper"]


if __name__ == "__main__":
    main()
