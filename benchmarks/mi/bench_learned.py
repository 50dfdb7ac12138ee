"""Learned MI estimator vs Gaussian-copula and KSG on tasks with known MI: MAE, bias, 90% coverage, time.

Run: python benchmarks/mi/bench_learned.py [--smoke]. Writes benchmarks/results/mi_learned.json (atomically)
and benchmarks/mi/learned_vs_true.png (when matplotlib is installed). To compare a candidate checkpoint on other
seeds: --checkpoint PATH --learned-only --seeds 100-109 --out FILE (the learned estimator alone, no timing).
Grid: every named continuous task with d_x, d_y <= 5 (the learned estimator's trained bounds)
x n in {100, 500, 1000, 5000} x 10 seeds; each dataset is drawn once and shared by all estimators. The
learned estimator's held-out family and transforms (additive-uniform; the spiral and coupling transforms)
and the Student-t tasks are also summarised separately, and a second grid draws random distributions of
the meta-training families (in-family) and of the held-out ones from the meta-data generator itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from infomix.core.io import atomic_write_text
from infomix.mi import GaussianCopulaEstimator, KSGEstimator, TCopulaEstimator, task
from infomix.mi.learned.calibration import conformal_scale
from infomix.mi.learned.estimator import LearnedEstimator
from infomix.mi.learned.metadata import MetaDataConfig, draw_task

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
    "3v3-normal-2pair",
    "5v5-normal-2pair",
    "5v5-normal-5pair-0.9",
    "5v5-independent",
    "2v2-student-dof1",
    "2v2-student-dof2",
    "3v3-student-dof2",
    "3v3-student-dof3",
    "5v5-student-dof2",
    "5v5-student-dof3",
    "2v2-asinh-student-dof1",
    "3v3-asinh-student-dof2",
    "3v3-halfcube-2pair",
    "5v5-halfcube-2pair",
    "5v5-uniform-margins-2pair",
    "3v3-spiral-2pair",
    "5v5-spiral-2pair",
    "3v3-coupling-2pair",
    "5v5-coupling-2pair",
]
HERE = Path(__file__).resolve().parent


def family(name: str) -> str:
    for key in ("spiral", "coupling", "additive", "student"):
        if key in name:
            return key
    return "gaussian-copula"


def held_out(name: str) -> bool:
    """Families and transforms the shipped checkpoint never saw in meta-training."""
    return "spiral" in name or "coupling" in name or "additive" in name


def estimators(
    n: int, dims: int, resamples: int, threads: int, checkpoint: Path | None = None, learned_only: bool = False
) -> dict[str, object]:
    learned = LearnedEstimator(checkpoint=checkpoint, threads=threads)
    if learned_only:
        return {"learned": learned}
    with_interval = n <= 1000  # resampling KSG at n = 5000 would dominate the run time
    r = resamples if with_interval else 0
    out: dict[str, object] = {
        "learned": learned,
        "copula": GaussianCopulaEstimator(n_bootstrap=100, confidence=0.9),
        "tcopula": TCopulaEstimator(n_bootstrap=r, confidence=0.9),
        "ksg-k3": KSGEstimator(k=3, n_resamples=r),
        "ksg-k5": KSGEstimator(k=5, n_resamples=r),
    }
    if with_interval and dims <= 4:
        out["ksg-k5-bootstrap"] = KSGEstimator(k=5, interval="bootstrap", n_resamples=r)
    return out


def timed(est: object, x: np.ndarray, y: np.ndarray) -> tuple[object, float]:
    start = time.perf_counter()
    result = est.estimate(x, y)  # type: ignore[attr-defined]
    return result, time.perf_counter() - start


def row(
    group: str, name: str, fam: str, out: bool, n: int, seed: int, est: str, truth: float, r, s: float
) -> list[dict]:
    """One result row; for the learned estimator also a `learned-raw` row: the uncalibrated 0.05-0.95 quantiles."""
    base = {
        "grid": group,
        "task": name,
        "family": fam,
        "held_out": out,
        "n": n,
        "seed": seed,
        "true": truth,
        "seconds": s,
    }
    rows = [{**base, "estimator": est, "value": r.value, "lower": r.lower, "upper": r.upper}]
    if est == "learned":
        q = r.info["quantiles"]
        rows.append(
            {
                **base,
                "estimator": "learned-raw",
                "value": r.value,
                "lower": max(q["0.05"], 0.0),
                "upper": max(q["0.95"], r.value),
                "raw": [q["0.05"], q["0.5"], q["0.95"]],  # unclipped, for the scale these samples need
                "applied_scale": r.info["interval_scale"],
            }
        )
    return rows


def named_grid(
    tasks: list[str],
    sizes: list[int],
    seeds: list[int],
    resamples: int,
    threads: int,
    checkpoint: Path | None = None,
    learned_only: bool = False,
) -> list[dict]:
    rows = []
    for name in tasks:
        t = task(name)
        truth = t.mutual_information
        for n in sizes:
            for seed in seeds:
                x, y = t.sample(n, seed=10_000 * seed + n)
                for est_name, est in estimators(
                    n, t.dim_x + t.dim_y, resamples, threads, checkpoint, learned_only
                ).items():
                    r, s = timed(est, x, y)
                    rows += row("named", name, family(name), held_out(name), n, seed, est_name, truth, r, s)
        print(f"{name} done", flush=True)
    return rows


def meta_grid(
    draws: int, sizes: list[int], threads: int, checkpoint: Path | None = None, learned_only: bool = False
) -> list[dict]:
    """Random distributions from the meta-data generator: training families, the held-out family and transforms."""
    rows = []
    config = MetaDataConfig()
    groups = {
        "in-family": {},
        "held-out additive-uniform": {"family": "additive-uniform", "transform": "identity"},
        "held-out spiral": {"transform": "spiral"},
        "held-out coupling": {"transform": "coupling"},
    }
    for label, kwargs in groups.items():
        for i in range(draws):
            rng = np.random.default_rng([77, i, len(label)])
            dx, dy = (int(v) for v in rng.integers(2 if "spiral" in label or "coupling" in label else 1, 6, size=2))
            for n in sizes:
                drawn = draw_task(np.random.default_rng([77, i, len(label)]), n, dx, dy, config, **kwargs)
                for est_name, est in estimators(n, dx + dy, 0, threads, checkpoint, learned_only).items():
                    if est_name == "ksg-k3":
                        continue
                    r, s = timed(est, drawn.x, drawn.y)
                    name = f"{drawn.family}/{drawn.transform}/{dx}v{dy}"
                    rows += row(
                        "meta", name, label, "held-out" in label, n, i, est_name, drawn.mutual_information, r, s
                    )
        print(f"meta grid {label} done", flush=True)
    return rows


def summary(rows: list[dict], key) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for label in key(r):
            groups.setdefault((r["grid"], label, r["estimator"], r["n"]), []).append(r)
    out = []
    for (grid, label, est, n), rs in sorted(groups.items()):
        errors = np.array([r["value"] - r["true"] for r in rs])
        with_interval = [r for r in rs if r["lower"] is not None]
        out.append(
            {
                "grid": grid,
                "group": label,
                "estimator": est,
                "n": n,
                "datasets": len(rs),
                "mae": float(np.abs(errors).mean()),
                "bias": float(errors.mean()),
                "coverage_90": float(np.mean([r["lower"] <= r["true"] <= r["upper"] for r in with_interval]))
                if with_interval
                else None,
                "intervals": len(with_interval),
                "median_width": float(np.median([r["upper"] - r["lower"] for r in with_interval]))
                if with_interval
                else None,
                "median_seconds": float(statistics.median(r["seconds"] for r in rs)),
                **scales(rs),
            }
        )
    return out


def needed_scale(rows: list[dict]) -> float:
    """The conformal factor of rows' raw 0.05-0.95 quantiles (key `raw`) that would cover 90% of these very
    samples: the one `calibrate` fits, applied to them instead of to calibration draws."""
    lo, med, hi = (np.array([r["raw"][i] for r in rows]) for i in range(3))
    return conformal_scale(med, lo, hi, np.array([r["true"] for r in rows]), 0.9)


def scales(rows: list[dict]) -> dict:
    """For `learned-raw` rows: the factor they need and the mean factor the estimator applied."""
    if not rows or "raw" not in rows[0]:
        return {}
    return {"needed_scale": needed_scale(rows), "applied_scale": float(np.mean([r["applied_scale"] for r in rows]))}


def groups_of(r: dict) -> list[str]:
    labels = ["all", "held-out" if r["held_out"] else "in-family", r["family"]]
    return labels if r["grid"] == "named" else [r["family"]]


def best_ksg(summary_rows: list[dict]) -> dict[int, str]:
    """Per n, the KSG k with the lower MAE over all named tasks."""
    best = {}
    for s in summary_rows:
        candidate = s["grid"] == "named" and s["group"] == "all" and s["estimator"] in ("ksg-k3", "ksg-k5")
        if candidate and (s["n"] not in best or s["mae"] < best[s["n"]][1]):
            best[s["n"]] = (s["estimator"], s["mae"])
    return {n: e for n, (e, _) in best.items()}


def targets(summary_rows: list[dict], best: dict[int, str]) -> dict:
    pick = {(s["group"], s["estimator"], s["n"]): s for s in summary_rows if s["grid"] == "named"}
    out = {}
    for n in (500, 5000):
        if ("all", "learned", n) not in pick:
            continue
        if n not in best:  # --learned-only: nothing to compare with
            out[f"n={n}"] = {"learned_mae": pick[("all", "learned", n)]["mae"]}
            continue
        learned, copula, ksg = pick[("all", "learned", n)], pick[("all", "copula", n)], pick[("all", best[n], n)]
        out[f"n={n}"] = {
            "learned_mae": learned["mae"],
            "copula_mae": copula["mae"],
            "ksg_best": best[n],
            "ksg_best_mae": ksg["mae"],
            "learned_beats_copula": learned["mae"] < copula["mae"],
            "learned_beats_ksg": learned["mae"] < ksg["mae"],
        }
    cover = [s for s in summary_rows if s["grid"] == "named" and s["group"] == "all" and s["estimator"] == "learned"]
    out["learned_coverage_by_n"] = {s["n"]: s["coverage_90"] for s in cover}
    for group in ("in-family", "held-out"):
        rows = [s for s in summary_rows if (s["grid"], s["group"], s["estimator"]) == ("named", group, "learned")]
        out[f"learned_coverage_by_n_{group}"] = {s["n"]: s["coverage_90"] for s in rows}
    return out


def ksg_check_replay(rows: list[dict]) -> dict:
    """What `LearnedEstimator(ksg_check=True)` would flag on the named datasets (KSG k = 3 above the interval).

    Per group (in-family / held-out) and n: datasets, flagged, flagged whose interval missed, and missed.
    """

    def key(r: dict) -> tuple:
        return r["task"], r["n"], r["seed"]

    ksg = {key(r): r["value"] for r in rows if r["grid"] == "named" and r["estimator"] == "ksg-k3"}
    out: dict = {}
    for r in rows:
        if r["grid"] != "named" or r["estimator"] != "learned" or key(r) not in ksg:
            continue
        cell = out.setdefault("held-out" if r["held_out"] else "in-family", {}).setdefault(
            str(r["n"]), {"datasets": 0, "flagged": 0, "flagged_missed": 0, "missed": 0}
        )
        flagged = ksg[key(r)] > r["upper"]
        missed = not r["lower"] <= r["true"] <= r["upper"]
        cell["datasets"] += 1
        cell["flagged"] += int(flagged)
        cell["flagged_missed"] += int(flagged and missed)
        cell["missed"] += int(missed)
    return out


def timing(threads: int, repeats: int, trainings: int = 4, checkpoint: Path | None = None) -> dict:
    """Seconds per estimate at n = 500 (1v1 and 5v5) of the learned estimator and of a trained InfoNCE.

    The two alternate: each InfoNCE training (a seed of its own) is followed by `repeats` learned estimates, so
    both see the same load on the machine, whose speed drifts by up to 1.5x over minutes. The ratio is of the
    medians; the minima are recorded too, and the minor page faults per learned estimate after each training:
    glibc returns freed heap memory to the system or keeps it depending on what the process allocated before
    (here, the training), and at n = 500 a 5v5 estimate that re-faults its ~10 MB of intermediates takes ~1.4x
    as long as one that does not.
    """
    from infomix.mi.neural import InfoNCEEstimator

    out = {}
    for name in ("1v1-normal-0.75", "5v5-normal-2pair"):
        x, y = task(name).sample(500, seed=1)
        learned = LearnedEstimator(checkpoint=checkpoint, threads=threads)
        learned.estimate(x, y)  # warm-up
        ts, nce, faults = [], [], []
        for s in range(trainings):
            nce.append(timed(InfoNCEEstimator(progress=False, seed=s), x, y)[1])
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            ts += [timed(learned, x, y)[1] for _ in range(repeats)]
            faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats)
        out[name] = {
            "learned_s": statistics.median(ts),
            "learned_min_s": min(ts),
            "learned_page_faults": faults,
            "infonce_s": statistics.median(nce),
            "infonce_min_s": min(nce),
            "infonce_trainings": trainings,
            "speedup": statistics.median(nce) / statistics.median(ts),
        }
        print(f"timing {name}: {out[name]}", flush=True)
    return out


def plot(rows: list[dict], best: dict[int, str], path: Path) -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = [r for r in rows if r["grid"] == "named"]
    columns = ["learned", "copula", "tcopula", None]  # None: the best KSG k at that n
    sizes = sorted({r["n"] for r in named})
    fig, axes = plt.subplots(len(sizes), len(columns), figsize=(16, 3.6 * len(sizes)), squeeze=False)
    for i, n in enumerate(sizes):
        for j, est in enumerate(columns):
            est = est or best[n]
            ax = axes[i][j]
            for fam, colour in (
                ("gaussian-copula", "C0"),
                ("student", "C1"),
                ("spiral", "C3"),
                ("coupling", "C4"),
                ("additive", "C2"),
            ):
                pts = [r for r in named if r["n"] == n and r["estimator"] == est and r["family"] == fam]
                ax.scatter([r["true"] for r in pts], [r["value"] for r in pts], s=12, c=colour, label=fam, alpha=0.7)
            top = max(r["true"] for r in named) * 1.1
            ax.plot([0, top], [0, top], "k--", lw=0.8)
            ax.set_title(f"{est}, n = {n}")
            ax.set_xlabel("true MI (nats)")
            ax.set_ylabel("estimate (nats)")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return str(path)


def markdown(data: dict) -> str:
    """The README tables: MAE / bias / coverage / median seconds per estimator, n and group."""
    best = {int(k): v for k, v in data["ksg_best_k"].items()}
    summ = data["summary"]
    lines = []
    for grid, groups in (
        ("named", ["all", "in-family", "held-out", "gaussian-copula", "student", "spiral", "coupling", "additive"]),
        ("meta", ["in-family", "held-out additive-uniform", "held-out spiral", "held-out coupling"]),
    ):
        lines += [
            f"\n**{grid} grid**\n",
            "| group | n | estimator | datasets | MAE | bias | 90% coverage | median width | s/estimate |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for g in groups:
            for n in sorted({s["n"] for s in summ if s["grid"] == grid}):
                for est in ("learned", "learned-raw", "copula", "tcopula", "ksg-k3", "ksg-k5", "ksg-k5-bootstrap"):
                    hit = [s for s in summ if (s["grid"], s["group"], s["estimator"], s["n"]) == (grid, g, est, n)]
                    if not hit:
                        continue
                    s = hit[0]
                    mark = " (best k)" if grid == "named" and best.get(n) == est else ""
                    cov = "—" if s["coverage_90"] is None else f"{s['coverage_90']:.2f}"
                    width = "—" if s["median_width"] is None else f"{s['median_width']:.3f}"
                    cells = [f"{g}", f"{n}", f"{est}{mark}", f"{s['datasets']}", f"{s['mae']:.3f}", f"{s['bias']:+.3f}"]
                    cells += [cov, width, f"{s['median_seconds']:.4f}"]
                    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + scale_table(summ))


def scale_table(summ: list[dict]) -> list[str]:
    """Per n: the conformal factor the estimator applied and the one each group of samples would need."""
    need = {(s["grid"], s["group"], s["n"]): s for s in summ if s["estimator"] == "learned-raw"}
    columns = [("named", "in-family"), ("named", "gaussian-copula"), ("named", "student"), ("meta", "in-family")]
    lines = [
        "\n**conformal factor for 90%: applied (mean over the named in-family samples: the calibration's cell of"
        " each) and needed by each group**\n",
        "| n | applied | " + " | ".join(f"{g} {label}" for g, label in columns) + " |",
        "|---" * (2 + len(columns)) + "|",
    ]
    for n in sorted({n for _, _, n in need}):
        applied = need.get(("named", "in-family", n), next(s for (_, _, m), s in need.items() if m == n))[
            "applied_scale"
        ]
        cells = [f"{need[(g, label, n)]['needed_scale']:.2f}" if (g, label, n) in need else "—" for g, label in columns]
        lines.append(f"| {n} | {applied:.2f} | " + " | ".join(cells) + " |")
    return lines


def parse_seeds(text: str) -> list[int]:
    """'100-109' (inclusive) or '0,3,5' -> a list of seeds."""
    try:
        if "-" in text:
            first, last = (int(v) for v in text.split("-"))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 100-109 or 0,3,5, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"seeds {text!r} name no seed")
    return seeds


def write_atomically(path: Path, data: dict) -> None:
    """`data` as JSON (indent 1) at `path`, written atomically and readable by all."""
    os.chmod(atomic_write_text(path, json.dumps(data, indent=1)), 0o644)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the learned estimator")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/mi_learned.json")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a learned-estimator checkpoint (default: shipped)"
    )
    parser.add_argument(
        "--learned-only", action="store_true", help="only the learned estimator (no classical ones, timing or plot)"
    )
    parser.add_argument("--seeds", type=parse_seeds, default=None, help="named-grid seeds, e.g. 100-109 or 0,3,5")
    parser.add_argument("--plot", type=Path, default=HERE / "learned_vs_true.png")
    parser.add_argument(
        "--timing-only", action="store_true", help="only the learned estimator's time at n = 500, 1 and 2 threads"
    )
    args = parser.parse_args()
    if args.out is None:
        if args.checkpoint is not None or args.learned_only or args.seeds is not None:
            parser.error("--checkpoint, --learned-only and --seeds need --out (the shipped results stay as they are)")
        args.out = HERE.parent / "results" / "mi_learned.json"
    if args.checkpoint is not None and not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint} is not a file")
    if args.timing_only:
        out = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name in ("1v1-normal-0.75", "5v5-normal-2pair"):
                x, y = task(name).sample(500, seed=1)
                est = LearnedEstimator(checkpoint=args.checkpoint, threads=threads)
                est.estimate(x, y)
                ts = [timed(est, x, y)[1] for _ in range(21)]
                out[f"{name}/threads={threads}"] = {"median_s": statistics.median(ts), "min_s": min(ts)}
                print(name, threads, out[f"{name}/threads={threads}"], flush=True)
        write_atomically(
            args.out.with_name("mi_learned_timing.json"),
            {
                "benchmark": "mi_learned_timing",
                "n": 500,
                "repeats": 21,
                "torch": torch.__version__,
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "results": out,
            },
        )
        return
    torch.set_num_threads(args.threads)
    if args.smoke:
        tasks, sizes, seeds, resamples, draws, meta_sizes, repeats = (
            [*TASKS[:2], "3v3-spiral-2pair"],
            [100, 500],
            [0],
            3,
            1,
            [500],
            2,
        )
    else:
        tasks, sizes, seeds, resamples, draws, meta_sizes, repeats = (
            TASKS,
            [100, 500, 1000, 5000],
            list(range(10)),
            20,
            12,
            [500, 5000],
            10,
        )
    seeds = args.seeds if args.seeds is not None else seeds
    start = time.perf_counter()
    only = args.learned_only
    rows = named_grid(tasks, sizes, seeds, resamples, args.threads, args.checkpoint, only)
    rows += meta_grid(draws, meta_sizes, args.threads, args.checkpoint, only)
    summaries = summary(rows, groups_of)
    best = best_ksg(summaries)
    speed = None if only else timing(args.threads, repeats, 1 if args.smoke else 4, args.checkpoint)
    learned = LearnedEstimator(checkpoint=args.checkpoint)
    data = {
        "benchmark": "mi_learned",
        "smoke": args.smoke,
        "config": {
            "tasks": tasks,
            "n": sizes,
            "seeds": seeds,
            "resamples": resamples,
            "confidence": 0.9,
            "meta_draws": draws,
            "meta_n": meta_sizes,
            "learned_only": only,
        },
        "checkpoint": {
            "file": Path(learned.path).name,
            **{k: learned.meta.get(k) for k in ("data_hash", "step", "trained_steps", "train_seconds", "calibration")},
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "dtype": "float32 (network), float64 (classical)",
        },
        "seconds_total": time.perf_counter() - start,
        "ksg_best_k": best,
        "targets": targets(summaries, best),
        "ksg_check": ksg_check_replay(rows),
        "timing_n500": speed,
        "summary": summaries,
        "rows": rows,
    }
    data["plot"] = plot(rows, best, args.plot) if not (args.smoke or only) else None
    write_atomically(args.out, data)
    print(markdown(data))
    print(json.dumps(data["targets"], indent=1))
    print(f"wrote {args.out} in {data['seconds_total']:.0f} s")


if __name__ == "__main__":
    main()
