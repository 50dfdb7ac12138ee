"""LIMIT's free-embedding experiment: the largest n whose C(n, 2) top-2 sets d-dim vectors can realise.

Compares the measured critical n per dimension with the cubic fit the LIMIT paper reports. Writes
benchmarks/results/free_embedding.json (and a PNG plot when matplotlib is installed).

    python benchmarks/retrieval/bench_free_embedding.py            # d = 2..10
    python benchmarks/retrieval/bench_free_embedding.py --smoke    # d = 2..4
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from infomix.core.io import atomic_write_json
from infomix.retrieval.free_embedding import critical_n, published_critical_n

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="dimensions 2-4 only")
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=2, help="restarts per n: solved if any restart solves it")
    args = parser.parse_args()
    dims = range(2, 5) if args.smoke else range(2, 11)
    rows = []
    for dim in dims:
        start = time.perf_counter()
        best = max(critical_n(dim, k=2, max_steps=args.max_steps, seed=s) for s in range(args.seeds))
        rows.append({"dim": dim, "critical_n": best, "published_fit": round(published_critical_n(dim), 2),
                     "seconds": round(time.perf_counter() - start, 2)})  # fmt: skip
        print(
            f"d={dim:3d}  critical n={best:4d}  paper fit={published_critical_n(dim):7.2f}  ({rows[-1]['seconds']} s)"
        )
    result = {
        "benchmark": "free_embedding",
        "command": "python benchmarks/retrieval/bench_free_embedding.py" + (" --smoke" if args.smoke else ""),
        "setup": {
            "k": 2,
            "pattern": "dense",
            "optimizer": "Adam lr 0.05, InfoNCE, temperature 0.1, unit sphere",
            "max_steps": args.max_steps,
            "restarts": args.seeds,
            "torch": torch.__version__,
            "threads": 1,
            "machine": platform.processor() or platform.machine(),
        },
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "free_embedding.json", result)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["dim"] for r in rows], [r["critical_n"] for r in rows], "o-", label="measured (free embeddings)")
    ax.plot([r["dim"] for r in rows], [r["published_fit"] for r in rows], "k--", label="LIMIT paper's cubic fit")
    ax.set(xlabel="embedding dimension d", ylabel="critical n (all top-2 sets)", title="Free-embedding limit")
    ax.legend()
    fig.savefig(RESULTS / "free_embedding.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
