"""DDIM, DPM-Solver++(2M), UniPC-bh2 and EVODiff at equal NFE: trajectory error and distance to exact samples.

Run: python benchmarks/mi/diffusion/bench_diffusion_samplers.py [--smoke]. Writes
benchmarks/results/diffusion_samplers.json atomically, and samplers.png and tables.md next to this script.
EDM schedule (σ ∈ [0.002, 80]), float64 sampling, torch threads 1. Settings: the exact 2-D four-mode mixture and a
16-d eight-mode mixture; the 2-D mixture's denoiser with a smooth deliberate error (network error); MLP denoisers
trained here on 2-D mixture draws and on the 8×8 digits. Trajectory error: mean ‖x − x_ref‖ against the DOP853
solution of the same denoiser's ODE from the same x_T. Distances: sliced Wasserstein-2 and the Fréchet distance of
Gaussian fits to exact samples (mixtures: draws of p at σ_min; digits: the 1,797 images); for trained denoisers also
to the reference-ODE samples (solver error alone).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from infomix.core.threads import torch_threads
from infomix.mi.diffusion import (
    SAMPLERS,
    GMMDenoiser,
    PerturbedDenoiser,
    four_mode_mixture,
    make_sampler,
    random_mixture,
    reference_solve,
    trajectory_error,
)
from infomix.mi.diffusion.data import digits
from infomix.mi.diffusion.metrics import TargetDistances
from infomix.mi.diffusion.network import NetworkDenoiser, train_denoiser

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "results" / "diffusion_samplers.json"
NFES = [5, 6, 8, 10, 15, 20]
# The four registered samplers, and EVODiff with a plain DDIM last step (an ablation of its last-step rule).
VARIANTS = {name: (name, {}) for name in SAMPLERS} | {"evodiff-ddim-last": ("evodiff", {"final_step": "ddim"})}


def write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def settings(smoke: bool) -> list[dict]:
    """Each setting: a denoiser, the x_T batch, the exact/data samples and the grids to run."""
    scale = 0.1 if smoke else 1.0
    gen = torch.Generator().manual_seed(0)
    out = []
    mix2 = four_mode_mixture()
    exact2 = mix2.sample(int(100_000 * scale), seed=1, sigma=0.002)
    x2 = 80 * torch.randn(int(4000 * scale), 2, generator=gen, dtype=torch.float64)
    common2 = {"x_T": x2, "target": exact2, "grids": ["logSNR", "edm"], "mixture": mix2}
    out.append({"name": "gmm-2d exact", "denoiser": GMMDenoiser(mix2, "edm"), **common2})
    perturbed = PerturbedDenoiser(GMMDenoiser(mix2, "edm"), scale=0.5)
    out.append({"name": "gmm-2d perturbed", "denoiser": perturbed, **common2})
    mix16 = random_mixture(16, n_modes=8, seed=3, spread=3.0)
    x16 = 80 * torch.randn(int(4000 * scale), 16, generator=gen, dtype=torch.float64)
    exact16 = mix16.sample(int(50_000 * scale), seed=2, sigma=0.002)
    out.append(
        {
            "name": "gmm-16d exact",
            "denoiser": GMMDenoiser(mix16, "edm"),
            "x_T": x16,
            "target": exact16,
            "grids": ["logSNR"],
            "mixture": mix16,
        }
    )
    steps = 300 if smoke else 6000
    start = time.perf_counter()
    net2 = train_denoiser(mix2.sample(20_000, seed=4).float(), steps=steps, batch_size=512, hidden=128, depth=3, seed=0)
    out.append(
        {
            "name": "trained-2d",
            "denoiser": NetworkDenoiser(net2, "edm", float64=True),
            "x_T": x2[: int(2000 * scale)],
            "target": exact2,
            "grids": ["logSNR"],
            "mixture": mix2,
            "train_seconds": time.perf_counter() - start,
            "train_steps": steps,
        }
    )
    data = digits()
    steps = 300 if smoke else 4000
    start = time.perf_counter()
    net_d = train_denoiser(data, steps=steps, batch_size=256, hidden=256, depth=3, seed=0)
    xd = 80 * torch.randn(int(1000 * scale), 64, generator=gen, dtype=torch.float64)
    out.append(
        {
            "name": "trained-digits",
            "denoiser": NetworkDenoiser(net_d, "edm", float64=True),
            "x_T": xd,
            "target": data.double(),
            "grids": ["logSNR"],
            "rtol": 1e-8,
            "train_seconds": time.perf_counter() - start,
            "train_steps": steps,
        }
    )
    return out


def run(setting: dict, nfes: list[int]) -> list[dict]:
    rows = []
    start = time.perf_counter()
    rtol = setting.get("rtol", 1e-10)
    ref, ref_calls = reference_solve(setting["denoiser"], setting["x_T"], rtol=rtol, atol=rtol)
    ref_seconds = time.perf_counter() - start
    target, mixture = TargetDistances(setting["target"]), setting.get("mixture")
    trained = "train_steps" in setting
    to_ref = TargetDistances(ref) if trained else None

    def metrics(x: torch.Tensor) -> dict:
        m = {"sw": target.sliced_wasserstein(x), "fd": target.frechet(x)}
        if mixture is not None:
            m["nll"] = float(-mixture.log_prob(x).mean())
        if to_ref is not None:
            m["sw_ref"] = to_ref.sliced_wasserstein(x)
            m["fd_ref"] = to_ref.frechet(x)
        return m

    rows.append(
        {
            "setting": setting["name"],
            "grid": "-",
            "sampler": "reference-ode",
            "nfe": ref_calls,
            "traj_err": 0.0,
            "seconds": ref_seconds,
            **metrics(ref),
        }
    )
    print(f"{setting['name']}: reference ODE {ref_calls} calls, {ref_seconds:.1f} s", flush=True)
    for grid in setting["grids"]:
        for nfe in nfes:
            for name, (registered, params) in VARIANTS.items():
                sampler = make_sampler(registered, grid=grid, **params)
                t0 = time.perf_counter()
                x = sampler.sample(setting["denoiser"], setting["x_T"], nfe)
                seconds = time.perf_counter() - t0
                row = {
                    "setting": setting["name"],
                    "grid": grid,
                    "sampler": name,
                    "nfe": nfe,
                    "model_calls": sampler.model_calls,
                    "traj_err": trajectory_error(x, ref),
                    "seconds": seconds,
                    **metrics(x),
                }
                rows.append(row)
            line = " | ".join(f"{r['sampler']} {r['traj_err']:.3f}/{r['fd']:.3f}" for r in rows[-len(VARIANTS) :])
            print(f"  {grid} NFE {nfe}: {line}", flush=True)
    return rows


def tables(rows: list[dict]) -> str:
    """Markdown tables: per setting and grid, trajectory error / Fréchet distance / sliced W2 per sampler and NFE."""
    out = []
    names = list(VARIANTS)
    for setting in dict.fromkeys(r["setting"] for r in rows):
        ref = next(r for r in rows if r["setting"] == setting and r["sampler"] == "reference-ode")
        trained = "fd_ref" in ref
        for grid in dict.fromkeys(r["grid"] for r in rows if r["setting"] == setting and r["grid"] != "-"):
            out.append(
                f"\n**{setting}**, {grid} grid. Each cell: trajectory error / Fréchet distance / sliced W2"
                + (" (to the reference-ODE samples: FD_ref)" if trained else "")
                + ". Best per row in bold.\n"
            )
            out.append("| NFE | " + " | ".join(names) + " |")
            out.append("|---" * (len(names) + 1) + "|")
            for nfe in NFES:
                cells = {
                    r["sampler"]: r for r in rows if r["setting"] == setting and r["grid"] == grid and r["nfe"] == nfe
                }
                if not cells:
                    continue
                best = {k: min(c[k] for c in cells.values()) for k in ("traj_err", "fd", "sw")}

                def fmt(r: dict, key: str, best: dict = best) -> str:
                    text = f"{r[key]:.3f}"
                    return f"**{text}**" if r[key] == best[key] else text

                row = [
                    f"{fmt(cells[n], 'traj_err')} / {fmt(cells[n], 'fd')} / {fmt(cells[n], 'sw')}"
                    + (f" ({cells[n]['fd_ref']:.3f})" if trained else "")
                    for n in names
                ]
                out.append(f"| {nfe} | " + " | ".join(row) + " |")
            floor = f"reference ODE ({ref['nfe']} calls): FD {ref['fd']:.4f}, SW {ref['sw']:.4f}"
            out.append(f"\n{floor}" + (f", NLL {ref['nll']:.3f}" if "nll" in ref else "") + "\n")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (s, g)
        for s in dict.fromkeys(r["setting"] for r in rows)
        for g in dict.fromkeys(r["grid"] for r in rows if r["setting"] == s and r["grid"] != "-")
    ]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 6), squeeze=False)
    for j, (setting, grid) in enumerate(panels):
        ref = next(r for r in rows if r["setting"] == setting and r["sampler"] == "reference-ode")
        for name in VARIANTS:
            sel = sorted(
                (r for r in rows if r["setting"] == setting and r["grid"] == grid and r["sampler"] == name),
                key=lambda r: r["nfe"],
            )
            nfe = [r["nfe"] for r in sel]
            style = {"ls": "--", "marker": "x"} if name == "evodiff-ddim-last" else {"marker": "o"}
            axes[0, j].plot(nfe, [r["traj_err"] for r in sel], label=name, **style)
            axes[1, j].plot(nfe, [r["fd"] for r in sel], label=name, **style)
        axes[1, j].axhline(ref["fd"], color="k", ls=":", lw=1, label="reference ODE")
        axes[0, j].set_title(f"{setting}\n{grid} grid", fontsize=9)
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(NFES, [str(n) for n in NFES])
            ax.set_xlabel("NFE")
        axes[0, j].set_ylabel("trajectory error") if j == 0 else None
        axes[1, j].set_ylabel("Fréchet distance to exact samples") if j == 0 else None
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    start = time.perf_counter()
    rows: list[dict] = []
    meta = []
    with torch_threads(1):
        for setting in settings(args.smoke):
            rows += run(setting, NFES[:2] if args.smoke else NFES)
            meta.append(
                {k: v for k, v in setting.items() if k in ("name", "grids", "rtol", "train_seconds", "train_steps")}
                | {
                    "paths": int(setting["x_T"].shape[0]),
                    "target_samples": int(setting["target"].shape[0]),
                    "dim": int(setting["x_T"].shape[1]),
                }
            )
    data = {
        "benchmark": "diffusion_samplers",
        "smoke": args.smoke,
        "config": {
            "schedule": "edm (sigma 0.002..80)",
            "nfe": NFES,
            "dtype": "float64",
            "settings": meta,
            "perturbation": "x0 + 0.5*k/(1+k)*tanh(A x/sqrt(1+k^2)), k = sigma/alpha, A ~ N(0, 1/d)",
            "lower_order_final": (
                "DPM-Solver++ and UniPC: last step first order when NFE < 10; EVODiff: its own last step"
            ),
            "reference": "scipy DOP853 in u = log sigma, rtol = atol = 1e-10 (digits 1e-8)",
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "threads": 1,
            "machine": platform.machine(),
        },
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    write_atomically(args.out, data)
    if not args.smoke:
        (HERE / "tables.md").write_text(tables(rows) + "\n")
        plot(rows, HERE / "samplers.png")
    print(tables(rows))
    print(f"total {data['seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
