"""Record a learned-estimator training run as a benchmark result, and (with --ship) ship its checkpoint.

Run: python benchmarks/mi/record_training.py --run RUN_DIR [--ship]. RUN_DIR is the --out of
`infomix mi train-learned`. Writes benchmarks/results/mi_learned_training.json (configs, data hash, steps,
wall time, loss curve, validation curve, calibration) and benchmarks/mi/learned_training.png (when matplotlib
is installed); --ship copies RUN/estimator.pt and RUN/config.json into the package as
infomix/mi/learned/checkpoints/<name>.{pt,json} (--name, required).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from infomix.core.io import atomic_write_json

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent.parent / "packages" / "mi" / "src" / "infomix" / "mi" / "learned" / "checkpoints"


def plot(record: dict, path: Path) -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        [p["step"] for p in record["loss_curve"]],
        [p["loss"] for p in record["loss_curve"]],
        label="train pinball (50-step mean)",
    )
    ax.plot(
        [p["step"] for p in record["validation"]],
        [p["loss"] for p in record["validation"]],
        "o-",
        label="validation pinball (EMA)",
    )
    ax.set_xlabel("step")
    ax.set_ylabel("pinball loss (nats)")
    ax.set_yscale("log")
    ax.legend()
    ax2 = ax.twinx()
    ax2.plot(
        [p["step"] for p in record["validation"]],
        [p["mae"] for p in record["validation"]],
        "s--",
        c="C2",
        label="validation MAE of the median",
    )
    ax2.set_ylabel("validation MAE (nats)")
    ax2.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--ship", action="store_true")
    parser.add_argument("--name", required=True, help="file stem of the shipped checkpoint, e.g. learned-v5")
    args = parser.parse_args()
    record = json.loads((args.run / "training.json").read_text())
    payload = torch.load(args.run / "estimator.pt", map_location="cpu", weights_only=True)
    record["calibration"] = payload.get("calibration")
    record["shipped_step"] = payload["step"]
    record["checkpoint_bytes"] = (args.run / "estimator.pt").stat().st_size
    record["plot"] = plot(record, HERE / "learned_training.png")
    atomic_write_json(HERE.parent / "results" / "mi_learned_training.json", record)
    if args.ship:
        PACKAGE.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.run / "estimator.pt", PACKAGE / f"{args.name}.pt")
        shutil.copyfile(args.run / "config.json", PACKAGE / f"{args.name}.json")
    print(
        json.dumps(
            {k: record[k] for k in ("steps", "train_seconds", "best_step", "best_val_loss", "calibration")}, indent=1
        )
    )


if __name__ == "__main__":
    main()
