"""Print the README's tables from results/*.json: per configuration, mean ± sd over seeds at the last step.

python benchmarks/mi/representation/summarize.py
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from infomix.mi.representation.run import plot_histories
from infomix.mi.representation.train import InfoMaxHistory

RESULTS = Path(__file__).resolve().parent / "results"


def ms(values: list[float], digits: int = 3) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def table(result: dict, keys: list[str]) -> list[str]:
    groups: dict[str, list[dict]] = {}
    for run in result["runs"]:
        groups.setdefault(" / ".join(str(run[k]) for k in keys), []).append(run["history"])
    has_probe = result["runs"][0]["history"]["probe_accuracy"][-1] is not None
    head = ["setting", "seeds", "train bound (last interval)", "test bound"]
    if has_probe:
        head += ["probe at step 0", "probe at the end", "best probe", "pixel probe"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, hs in groups.items():
        row = [name, str(len(hs)), ms([h["train_bound"][-1] for h in hs]), ms([h["test_bound"][-1] for h in hs])]
        if has_probe:
            row += [
                ms([h["probe_accuracy"][0] for h in hs], 4),
                ms([h["probe_accuracy"][-1] for h in hs], 4),
                ms([max(a for a in h["probe_accuracy"] if a is not None) for h in hs], 4),
                ms([h["pixel_accuracy"] for h in hs], 4),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def mean_history(histories: list[dict[str, Any]]) -> InfoMaxHistory:
    """The seed average of histories with the same evaluation steps."""

    def avg(name: str) -> list[float]:
        columns = zip(*[h[name] for h in histories], strict=True)
        return [statistics.fmean(math.nan if v is None else v for v in col) for col in columns]

    first = histories[0]
    pixels = [h["pixel_accuracy"] for h in histories if h["pixel_accuracy"] is not None]
    return InfoMaxHistory(
        config=first["config"],
        data=first["data"],
        bound=first["bound"],
        step=first["step"],
        train_bound=avg("train_bound"),
        test_bound=avg("test_bound"),
        probe_accuracy=avg("probe_accuracy") if first["probe_accuracy"][0] is not None else first["probe_accuracy"],
        reconstruction_error=first["reconstruction_error"],
        pixel_accuracy=statistics.fmean(pixels) if pixels else None,
        true_mi=first["true_mi"],
    )


def plot_result(result: dict[str, Any], keys: list[str], path: Path, title: str) -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in result["runs"]:
        groups.setdefault(" / ".join(str(run[k]) for k in keys), []).append(run["history"])
    labels = [f"{name} (mean of {len(hs)})" for name, hs in groups.items()]
    plot_histories([mean_history(hs) for hs in groups.values()], path, labels, title)


KEYS = {"critics": ["bound", "critic"], "invertible": ["encoder"], "matched": ["target", "encoder"],
        "noniid": ["batches", "bound"], "triplet": ["objective", "critic"]}  # fmt: skip


def main() -> None:
    plots = "--plots" in sys.argv[1:]
    for path in sorted(RESULTS.glob("*.json")):
        if path.stem.endswith("_smoke"):
            continue
        result = json.loads(path.read_text())
        keys = next(v for k, v in KEYS.items() if path.stem.startswith(k))
        setup = result["setup"]
        if plots:
            plot_result(result, keys, path.with_suffix(".png"), f"{result['claim'][:3]} {path.stem}")
        print(f"### {path.stem}\n\n{result['claim']}\n\n`{result['command']}` ({setup['seconds']:.0f} s, "
              f"{setup['threads']} thread, torch {setup['torch']})\n")  # fmt: skip
        print("\n".join(table(result, keys)))
        extra = result["outcome"]
        if "max_reconstruction_error" in extra:
            print(f"\nlargest reconstruction error max|g1⁻¹(g1(x)) − x| over all evaluations: "
                  f"{extra['max_reconstruction_error']:.2e}")  # fmt: skip
        print()


if __name__ == "__main__":
    main()
