"""Print the Markdown tables of the retrieval benchmark results (effectiveness and ANNCUR) for the README."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"


def effectiveness() -> None:
    rows = []
    for name in ("retrieval_effectiveness", "retrieval_effectiveness_limit", "retrieval_effectiveness_licences"):
        path = RESULTS / f"{name}.json"
        if path.is_file():
            rows += json.loads(path.read_text())["rows"]
    seen = set()
    print("| collection | retriever | nDCG@10 | R@100 | MRR | R@2 | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        key = (r["collection"], r["retriever"])
        if key in seen:
            continue
        seen.add(key)
        r2 = f"{r['R@2']:.4f}" if "R@2" in r else ""
        print(f"| {r['collection']} | {r['retriever']} | {r['nDCG@10']:.4f} | {r['R@100']:.4f} | {r['MRR']:.4f} "
              f"| {r2} | {r['seconds']:.1f} |")  # fmt: skip


def anncur() -> None:
    path = RESULTS / "anncur.json"
    if not path.is_file():
        return
    rows = json.loads(path.read_text())["rows"]
    print("\n| method | calls/query | R@1 | R@10 | R@50 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['calls_per_query']:.0f} | {r['R@1']:.3f} | {r['R@10']:.3f} "
              f"| {r.get('R@50', float('nan')):.3f} |")  # fmt: skip


if __name__ == "__main__":
    effectiveness()
    anncur()
