"""Benchmark infomix.ops.linear_cross_entropy against materialised torch and torch's chunked F.linear_cross_entropy."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "linear_cross_entropy.json"
IMPLS = ("materialised", "torch_chunked", "infomix", "infomix_fp32_accumulation", "infomix_64mib_blocks")


def _cpu_description() -> dict[str, object]:
    info: dict[str, object] = {"machine": platform.machine(), "logical_cpus": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
        flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
        info["model"] = model
        info["simd"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
    except OSError:
        pass
    return info


def _loss_fn(impl: str):
    import torch
    import torch.nn.functional as F

    import infomix.ops as ops

    if impl == "materialised":
        return lambda x, w, y: F.cross_entropy(x @ w.T, y)
    if impl == "torch_chunked":
        options = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=512, chunking_method=None)
        return lambda x, w, y: F.linear_cross_entropy(x, w, y, options=options)
    if impl == "infomix":
        return lambda x, w, y: ops.linear_cross_entropy(x, w, y)
    if impl == "infomix_fp32_accumulation":  # bf16/fp16: dW summed over row blocks in a V×D fp32 buffer
        return lambda x, w, y: ops.linear_cross_entropy(x, w, y, grad_accumulation="float32")
    if impl == "infomix_64mib_blocks":  # 64 MiB of logits per row block instead of 16 (512 rows at V=32768)
        os.environ["INFOMIX_XENT_BLOCK_BYTES"] = str(64 << 20)
        return lambda x, w, y: ops.linear_cross_entropy(x, w, y)
    raise ValueError(impl)


_PEAK_METHOD = "VmHWM after clearing it via /proc/self/clear_refs"


def _peak_rss() -> int:
    """Peak resident set size of this process in KiB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS where Linux allows it; return the new baseline in KiB."""
    global _PEAK_METHOD
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        _PEAK_METHOD = "ru_maxrss growth (the high-water mark could not be reset)"
    return _peak_rss()


def run_case(case: dict[str, object]) -> dict[str, object]:
    """One case in this (fresh) process: peak RSS growth of the first call, then the median of timed repeats."""
    import torch

    import infomix.ops as ops

    ops.load()
    torch.set_num_threads(int(case["threads"]))
    dtype = getattr(torch, str(case["dtype"]))
    n, d, v = int(case["n"]), int(case["d"]), int(case["v"])
    backward = case["mode"] == "fwd+bwd"
    fn = _loss_fn(str(case["impl"]))
    gen = torch.Generator().manual_seed(0)

    def step(x, w, y):
        if backward:
            x.grad = w.grad = None
            loss = fn(x, w, y)
            loss.backward()
        else:
            with torch.no_grad():
                loss = fn(x, w, y)
        return loss

    # Warm up libraries (MKL, oneDNN kernels, the op's registration) on a small problem before the baseline.
    xs = torch.randn(64, d, generator=gen, dtype=dtype).requires_grad_(backward)
    ws = torch.randn(256, d, generator=gen, dtype=dtype).div_(d**0.5).requires_grad_(backward)
    step(xs, ws, torch.randint(0, 256, (64,), generator=gen))
    # Inputs created in place (no transient copies that would raise the high-water mark before the baseline).
    x = torch.randn(n, d, generator=gen, dtype=dtype).requires_grad_(backward)
    w = torch.randn(v, d, generator=gen, dtype=dtype).div_(d**0.5).requires_grad_(backward)
    y = torch.randint(0, v, (n,), generator=gen)
    del xs, ws
    gc.collect()
    base_kib = _reset_peak_rss()
    t0 = time.perf_counter()
    loss = step(x, w, y)
    first = time.perf_counter() - t0
    peak_kib = _peak_rss()
    times, cpu_times = [], []
    for _ in range(int(case["repeats"])):
        t0, c0 = time.perf_counter(), time.process_time()
        step(x, w, y)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    grads_mib = (x.numel() + w.numel()) * x.element_size() / 2**20 if backward else 0.0
    extra = (peak_kib - base_kib) / 1024
    return {
        **case,
        "loss": float(loss.detach().float()),
        "first_s": first,
        "times_s": times,
        "median_s": statistics.median(times) if times else first,
        "cpu_times_s": cpu_times,
        "median_cpu_s": statistics.median(cpu_times) if cpu_times else None,
        "peak_method": _PEAK_METHOD,
        "peak_extra_mib": extra,
        "grads_mib": grads_mib,
        "peak_extra_beyond_grads_mib": max(extra - grads_mib, 0.0),
    }


def _spawn(case: dict[str, object]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {**case, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ratios(results: list[dict[str, object]]) -> list[dict[str, object]]:
    table = []
    keyed = {(r["v"], r["dtype"], r["mode"], r["threads"], r["impl"]): r for r in results if "error" not in r}
    for (v, dt, mode, th, impl), r in sorted(keyed.items(), key=lambda kv: str(kv[0])):
        if not str(impl).startswith("infomix"):
            continue
        row: dict[str, object] = {"v": v, "dtype": dt, "mode": mode, "threads": th, "impl": impl}
        row["infomix_s"] = r["median_s"]
        for base in ("materialised", "torch_chunked"):
            b = keyed.get((v, dt, mode, th, base))
            if b is None:
                continue
            row[f"{base}_s"] = b["median_s"]
            row[f"time_ratio_vs_{base}"] = r["median_s"] / b["median_s"]
            if r.get("median_cpu_s") and b.get("median_cpu_s"):
                row[f"cpu_time_ratio_vs_{base}"] = r["median_cpu_s"] / b["median_cpu_s"]
            bm = float(b["peak_extra_beyond_grads_mib"])
            row[f"{base}_extra_mib"] = bm
            row[f"memory_ratio_vs_{base}"] = float(r["peak_extra_beyond_grads_mib"]) / bm if bm > 0 else None
            row[f"loss_diff_vs_{base}"] = abs(float(r["loss"]) - float(b["loss"]))
        row["infomix_extra_mib"] = r["peak_extra_beyond_grads_mib"]
        table.append(row)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run (not written to the results file)")
    parser.add_argument("--vocab", type=int, nargs="+", default=[32768])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    parser.add_argument("--impls", nargs="+", default=list(IMPLS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS})")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    import torch

    if args.smoke:
        args.tokens, args.dim, args.vocab, args.repeats = 256, 64, [2048], 1
    cases = [
        {"impl": impl, "dtype": dt, "mode": mode, "threads": th, "n": args.tokens, "d": args.dim, "v": v,
         "repeats": args.repeats}
        for v in args.vocab for dt in args.dtypes for mode in args.modes for th in args.threads for impl in args.impls
    ]  # fmt: skip
    load_before = os.getloadavg()
    results = []
    for i, case in enumerate(cases, 1):
        r = _spawn(case)
        results.append(r)
        shown = f"{r['median_s']:.3f}s extra {r['peak_extra_beyond_grads_mib']:.0f} MiB" if "error" not in r else r
        print(f"[{i}/{len(cases)}] V={case['v']} {case['dtype']} {case['mode']} t={case['threads']} "
              f"{case['impl']}: {shown}", flush=True)  # fmt: skip
    table = _ratios(results)
    for row in table:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}))
    report = {
        "benchmark": "linear_cross_entropy",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_description(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "shapes": {"tokens": args.tokens, "dim": args.dim, "vocab": args.vocab},
        "method": "fresh subprocess per case; peak memory = growth of the peak RSS over the first call, after inputs "
        "and a small warm-up; 'beyond grads' subtracts x.grad + W.grad; time = median of repeats after that call, "
        "wall clock and process CPU time (the CPU time is the fairer figure when other jobs share the cores); "
        "inputs x ~ N(0,1), W ~ N(0,1/D), uniform targets (a flat softmax: gradient filtering skips nothing)",
        "torch_chunked": "F.linear_cross_entropy(..., options=LinearCrossEntropyOptions(batch_chunk_size=512, "
        "chunking_method=None))",
        "smoke": args.smoke,
        "results": results,
        "summary": table,
    }
    out = args.out or (Path(tempfile.gettempdir()) / "linear_cross_entropy_smoke.json" if args.smoke else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
