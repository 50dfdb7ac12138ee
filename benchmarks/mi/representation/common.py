"""Shared pieces of the InfoMax benchmarks: load views, train a list of configurations, summarise, write."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from infomix.core.io import atomic_write_json
from infomix.core.threads import torch_threads
from infomix.mi.representation.datasets import digits_halves, fashion_mnist_halves
from infomix.mi.representation.run import plot_histories
from infomix.mi.representation.train import InfoMaxConfig, InfoMaxHistory, train_infomax
from infomix.mi.representation.views import ViewSplit

RESULTS = Path(__file__).resolve().parent / "results"


def run_parser(doc: str, *, data: str, steps: int = 1500, lr: float = 1e-4, eval_every: int = 500
               ) -> argparse.ArgumentParser:  # fmt: skip
    """A parser with the options every InfoMax benchmark takes; add the benchmark's own, then `parse_run_args`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", default=data, choices=["digits", "fashion-mnist"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--eval-every", type=int, default=eval_every)
    parser.add_argument("--smoke", action="store_true", help="one seed, 40 steps, small probe")
    parser.add_argument("--workers", type=int, default=1, help="runs trained at once, one thread each")
    return parser


def parse_run_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parsed options (--workers checked); --smoke means one seed and 40 steps with an evaluation every 20."""
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.smoke:
        args.seeds, args.steps, args.eval_every = 1, 40, 20
    return args


def load(data: str, smoke: bool) -> ViewSplit:
    if data == "digits":
        return digits_halves()
    if data == "fashion-mnist":
        return fashion_mnist_halves(n_train=2000 if smoke else None, n_test=1000 if smoke else None)
    raise SystemExit(f"--data must be digits or fashion-mnist, got {data!r}")


def probe_sizes(data: str, smoke: bool) -> dict[str, int | None]:
    """Digits: every train/test row. Fashion-MNIST: 5,000 train rows and 5,000 test rows per probe."""
    if data == "digits":
        return {"probe_train": None, "probe_test": None}
    return {"probe_train": 1000 if smoke else 5000, "probe_test": 500 if smoke else 5000}


def train_all(jobs: Sequence[tuple[dict[str, Any], InfoMaxConfig]], train: Any, test: Any, name: str,
              true_mi: float | None = None, workers: int = 1) -> list[dict[str, Any]]:  # fmt: skip
    """Train each (labels, config) on one thread, `workers` at a time; return records with the history (in order)."""
    if workers == 1:
        return _records(jobs, name, (_train_one(config, train, test, name, true_mi) for _, config in jobs))
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
        futures = [pool.submit(_train_one, config, train, test, name, true_mi) for _, config in jobs]
        return _records(jobs, name, (f.result() for f in futures))


def _train_one(config: InfoMaxConfig, train: Any, test: Any, name: str, true_mi: float | None) -> InfoMaxHistory:
    with torch_threads(1):
        history, _ = train_infomax(config, train, test, name=name, true_mi=true_mi)
    return history


def _records(jobs: Sequence[tuple[dict[str, Any], InfoMaxConfig]], name: str,
             histories: Iterable[InfoMaxHistory]) -> list[dict[str, Any]]:  # fmt: skip
    """One record per job, printed as its history arrives (histories in the order of jobs)."""
    records = []
    for i, ((labels, config), history) in enumerate(zip(jobs, histories, strict=True), 1):
        acc = history.probe_accuracy[-1]
        print(
            f"[{i}/{len(jobs)}] {name} {labels} seed {config.seed}: test I_{history.bound} "
            f"{history.test_bound[0]:.3f} -> {history.test_bound[-1]:.3f}"
            + ("" if acc is None else f", probe {history.probe_accuracy[0]:.4f} -> {acc:.4f}")
            + f" ({history.seconds:.0f} s)",
            flush=True,
        )
        records.append({**labels, "seed": config.seed, "history": history})
    return records


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def group(records: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault("/".join(str(r[k]) for k in keys), []).append(r)
    return out


def final_summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Across seeds: the last evaluation's test bound and probe accuracy, the probe at step 0 and the pixels."""
    hs: list[InfoMaxHistory] = [r["history"] for r in runs]
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs], "test_bound": mean_sd([h.test_bound[-1] for h in hs])}
    if hs[0].probe_accuracy[-1] is not None:
        out["probe_accuracy"] = mean_sd([h.probe_accuracy[-1] for h in hs])  # type: ignore[misc]
        out["probe_accuracy_step0"] = mean_sd([h.probe_accuracy[0] for h in hs])  # type: ignore[misc]
        out["best_probe_accuracy"] = mean_sd([max(a for a in h.probe_accuracy if a is not None) for h in hs])
        out["pixel_accuracy"] = mean_sd([h.pixel_accuracy for h in hs])  # type: ignore[misc]
    return out


def setup(**extra: Any) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
        **extra,
    }


def run_setup(args: argparse.Namespace, seconds: float, **extra: Any) -> dict[str, Any]:
    """`setup` with the run options (data, steps, lr, batch size 128, seeds), `extra`, then the seconds taken."""
    return setup(data=args.data, steps=args.steps, lr=args.lr, batch_size=128, seeds=args.seeds,
                 workers=args.workers, **extra, seconds=round(seconds, 1))  # fmt: skip


def print_bounds_and_probes(summary: dict[str, dict[str, Any]], width: int) -> None:
    """One line per group: mean ± sd of the final test bound and probe accuracy."""
    for key, s in summary.items():
        print(f"{key:{width}s} bound {s['test_bound']['mean']:.3f}±{s['test_bound']['sd']:.3f}  "
              f"probe {s['probe_accuracy']['mean']:.4f}±{s['probe_accuracy']['sd']:.4f}")  # fmt: skip


def write(name: str, result: dict[str, Any], records: Sequence[dict[str, Any]], label_keys: Sequence[str],
          title: str) -> None:  # fmt: skip
    """results/<name>.json (with every history) and results/<name>.png (every run, one line each)."""
    result = {**result, "runs": [{**{k: v for k, v in r.items() if k != "history"},
                                  "history": r["history"].to_dict()} for r in records]}  # fmt: skip
    atomic_write_json(RESULTS / f"{name}.json", result)
    labels = ["/".join(str(r[k]) for k in label_keys) + f" s{r['seed']}" for r in records]
    plot_histories([r["history"] for r in records], RESULTS / f"{name}.png", labels, title)
    print(f"wrote {RESULTS / (name + '.json')}")


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
