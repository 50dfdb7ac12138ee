"""Benchmark infomix.ops.attention against F.scaled_dot_product_attention (CPU flash) and naive attention."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import infomix.ops

RESULTS = Path(__file__).resolve().parent / "results" / "attention.json"
BATCH, HEADS, HEAD_DIM = 1, 8, 64
SHORT_NOTE = "forward over head-split views of [rows, S, 3, H, d] (not contiguous), (B, H, S, d) = (rows, H, S, d)"
MEMORY_NOTE = "growth of VmHWM over VmRSS in a fresh process running the case once (inputs excluded), MiB"


def naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        s = q.shape[2]
        scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def ours(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, **extra: Any) -> torch.Tensor:
    out = infomix.ops.attention(q, k, v, causal=causal, **extra)
    return out[0] if isinstance(out, tuple) else out


IMPLS = {"ours": ours, "sdpa": sdpa, "naive": naive}


def inputs(length: int, grad: bool, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(BATCH, HEADS, length, HEAD_DIM, generator=gen).requires_grad_(grad) for _ in range(3)]


def runner(impl: str, length: int, causal: bool, mode: str, extra: dict[str, Any] | None = None):
    q, k, v = inputs(length, grad=mode == "fwd+bwd")
    fn = IMPLS[impl]
    kwargs = extra or {}
    if mode == "fwd":

        def run() -> None:
            with torch.no_grad():
                fn(q, k, v, causal, **kwargs)
    else:
        g = torch.randn(BATCH, HEADS, length, HEAD_DIM)

        def run() -> None:
            out = fn(q, k, v, causal, **kwargs)
            torch.autograd.backward(out, g, inputs=[q, k, v])
            q.grad = k.grad = v.grad = None

    return run


def time_ms(run, min_time: float, min_repeats: int) -> tuple[float, float]:
    """Median wall-clock and median process CPU time (all threads) per call, in ms."""
    run()  # warm-up
    walls: list[float] = []
    cpus: list[float] = []
    start = time.perf_counter()
    while len(walls) < min_repeats or time.perf_counter() - start < min_time:
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def flops(length: int, causal: bool, mode: str) -> float:
    fwd = 4 * BATCH * HEADS * length * length * HEAD_DIM * (0.5 if causal else 1.0)
    return fwd * (3.5 if mode == "fwd+bwd" else 1.0)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measure_peak(impl: str, length: int, causal: bool, mode: str) -> float:
    """Peak resident-set growth (MiB) while running the case once; inputs are allocated before the baseline."""
    run = runner(impl, length, causal, mode)
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark VmHWM to the current RSS
    base = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - base) / 1024


def peak_memory_mib(impl: str, length: int, causal: bool, mode: str, threads: int) -> float:
    """measure_peak in a fresh process (ru_maxrss would inherit the parent's peak across fork/exec; VmHWM does not)."""
    code = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import bench_attention as b; "
        f"torch.set_num_threads({threads}); print(b.measure_peak({impl!r}, {length}, {causal}, {mode!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(Path(__file__).resolve().parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def memory_section(lengths: list[int], threads: int, naive_max_length: int) -> list[dict[str, Any]]:
    memory: list[dict[str, Any]] = []
    for length in lengths:
        for mode in ("fwd", "fwd+bwd"):
            row: dict[str, Any] = {"threads": threads, "S": length, "causal": False, "mode": mode}
            for impl in IMPLS:
                if impl == "naive" and length > naive_max_length:
                    continue
                row[f"{impl}_peak_mib"] = round(peak_memory_mib(impl, length, False, mode, threads), 1)
            memory.append(row)
            print(json.dumps(row), flush=True)
    return memory


SHORT_CASES = [(1000, 4, 10, 8), (1000, 4, 10, 16), (250, 8, 32, 16)]  # (rows, heads, tokens, d)


def short_runner(impl: str, rows: int, heads: int, tokens: int, d: int):
    """Self-attention over the tokens of every row, q/k/v as a block's head-split views of one [rows, S, 3, H, d]."""
    x = torch.randn(rows, tokens, 3, heads, d, generator=torch.Generator().manual_seed(0))
    q, k, v = (x[:, :, i].transpose(1, 2) for i in range(3))

    def run() -> None:
        with torch.no_grad():
            IMPLS[impl](q, k, v, False)

    return run


def short_section(threads_list: list[int], min_time: float, min_repeats: int) -> list[dict[str, Any]]:
    """Many tiny attentions (a set network's attention across the features of each row), forward only."""
    rows_out: list[dict[str, Any]] = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for rows, heads, tokens, d in SHORT_CASES:
            row: dict[str, Any] = {"threads": threads, "rows": rows, "heads": heads, "S": tokens, "d": d}
            for impl in IMPLS:
                ms, cpu_ms = time_ms(short_runner(impl, rows, heads, tokens, d), min_time, min_repeats)
                row[f"{impl}_ms"] = round(ms, 3)
                row[f"{impl}_cpu_ms"] = round(cpu_ms, 3)
            row["ours_over_sdpa"] = round(row["ours_ms"] / row["sdpa_ms"], 3)
            row["naive_over_ours"] = round(row["naive_ms"] / row["ours_ms"], 2)
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    return rows_out


def _gpu_step(fn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, causal: bool):
    def run() -> None:
        torch.autograd.backward(fn(q, k, v, causal), g, inputs=[q, k, v])
        torch.cuda.synchronize()

    return run


def gpu_section(min_time: float) -> dict[str, Any]:
    """Forward+backward TFLOP/s at S=4096, d=128, bf16 against SDPA's flash backend (only with a CUDA device)."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    b, h, s, d = 4, 16, 4096, 128
    out: dict[str, Any] = {"shape": [b, h, s, d], "dtype": "bfloat16", "device": torch.cuda.get_device_name()}
    for causal in (False, True):
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        g = torch.randn_like(q)
        work = 4 * b * h * s * s * d * (0.5 if causal else 1.0) * 3.5
        for name in ("ours", "sdpa"):
            ms, _ = time_ms(_gpu_step(IMPLS[name], q, k, v, g, causal), min_time, 5)
            out[f"{name}_{'causal' if causal else 'full'}_ms"] = ms
            out[f"{name}_{'causal' if causal else 'full'}_tflops"] = work / ms / 1e9
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny CI-size run (S=128, one repeat)")
    parser.add_argument("--lengths", default="512,2048,8192")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument(
        "--naive-max-length",
        type=int,
        default=2048,
        help="skip naive attention above this length (S=8192 needs >8 GiB for fwd+bwd)",
    )
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds of repeats per case (median reported)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--memory-only", action="store_true", help="re-measure only the memory of an existing --out")
    parser.add_argument(
        "--short-only", action="store_true", help="re-measure only the short-sequence cases of an existing --out"
    )
    args = parser.parse_args(argv)
    threads_list = [int(x) for x in args.threads.split(",")]
    if args.short_only:
        result = json.loads(args.out.read_text())
        result["short_sequences"] = short_section(threads_list, args.min_time, 3)
        result["meta"]["short_sequences"] = SHORT_NOTE
        _write(result, args.out)
        return 0
    if args.memory_only:
        result = json.loads(args.out.read_text())
        meta = result["meta"]
        result["memory"] = memory_section(meta["shape"]["S"], max(meta["threads"]), args.naive_max_length)
        meta["memory"] = MEMORY_NOTE
        _write(result, args.out)
        return 0
    lengths = [128] if args.smoke else [int(x) for x in args.lengths.split(",")]
    min_time, min_repeats = (0.0, 1) if args.smoke else (args.min_time, 3)
    load_before = os.getloadavg()
    info = infomix.ops.build_info()
    meta = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "compiled_kernels": info.get("cpu_kernels", []),
        "kernel_set_cap": os.environ.get("INFOMIX_ATTENTION_ISA") or "none (the widest the CPU runs)",
        "shape": {"B": BATCH, "H": HEADS, "d": HEAD_DIM, "S": lengths},
        "dtype": "float32",
        "threads": threads_list,
        "timing": f"median of >= {min_repeats} runs and >= {min_time} s after one warm-up",
        "memory": MEMORY_NOTE,
        "short_sequences": SHORT_NOTE,
        "load_average_before": load_before,
        "smoke": args.smoke,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    cases: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for length in lengths:
            for causal in (False, True):
                for mode in ("fwd", "fwd+bwd"):
                    row: dict[str, Any] = {"threads": threads, "S": length, "causal": causal, "mode": mode}
                    for impl in IMPLS:
                        if impl == "naive" and length > args.naive_max_length:
                            row["naive_ms"] = None
                            continue
                        ms, cpu_ms = time_ms(runner(impl, length, causal, mode), min_time, min_repeats)
                        row[f"{impl}_ms"] = round(ms, 3)
                        row[f"{impl}_cpu_ms"] = round(cpu_ms, 3)
                        row[f"{impl}_gflops"] = round(flops(length, causal, mode) / ms / 1e6, 1)
                    row["ours_over_sdpa"] = round(row["ours_ms"] / row["sdpa_ms"], 3)
                    row["ours_over_sdpa_cpu"] = round(row["ours_cpu_ms"] / row["sdpa_cpu_ms"], 3)
                    if row.get("naive_ms"):
                        row["naive_over_ours"] = round(row["naive_ms"] / row["ours_ms"], 2)
                    cases.append(row)
                    print(json.dumps(row), flush=True)
            # options SDPA cannot express on CPU, against SDPA's plain (non-causal) case of the same size
            n_seq = 4
            cu = torch.arange(0, length + 1, length // n_seq)
            extra_options = {
                "softcap=30": {"softcap": 30.0},
                "window=256 (causal)": {"window": 256, "causal": True},
                f"varlen {n_seq}x{length // n_seq}": {"cu_seqlens_q": cu, "cu_seqlens_k": cu},
                "entropy": {"return_entropy": True},
            }
            for mode in ("fwd", "fwd+bwd"):
                plain = next(
                    c for c in cases if (c["threads"], c["S"], c["causal"], c["mode"]) == (threads, length, False, mode)
                )
                for label, opts in extra_options.items():
                    opts = dict(opts)
                    causal = opts.pop("causal", False)
                    ms, cpu_ms = time_ms(runner("ours", length, causal, mode, opts), min_time, min_repeats)
                    row = {
                        "threads": threads,
                        "S": length,
                        "mode": mode,
                        "option": label,
                        "ours_ms": round(ms, 3),
                        "sdpa_plain_ms": plain["sdpa_ms"],
                        "ours_over_sdpa_plain": round(ms / plain["sdpa_ms"], 3),
                        "ours_cpu_ms": round(cpu_ms, 3),
                        "sdpa_plain_cpu_ms": plain["sdpa_cpu_ms"],
                        "ours_over_sdpa_plain_cpu": round(cpu_ms / plain["sdpa_cpu_ms"], 3),
                    }
                    extras.append(row)
                    print(json.dumps(row), flush=True)
    short = short_section(threads_list, min_time, min_repeats)
    memory = [] if args.no_memory else memory_section(lengths, max(threads_list), args.naive_max_length)
    gpu = gpu_section(min_time)
    result = {
        "meta": {**meta, "load_average_after": os.getloadavg()},
        "cases": cases,
        "extra_options": extras,
        "short_sequences": short,
        "memory": memory,
        "gpu": gpu,
    }
    result["summary"] = summarise(cases, extras)
    print(json.dumps(result["summary"], indent=1))
    _write(result, args.out)
    return 0


def _write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


def summarise(cases: list[dict[str, Any]], extras: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's CPU targets, each with the worst observed value, by wall clock and by process CPU time."""
    summary: dict[str, Any] = {}
    for suffix, label in (("", "wall"), ("_cpu", "cpu")):
        vs_sdpa = [c[f"ours_over_sdpa{suffix}"] for c in cases]
        vs_plain = [e[f"ours_over_sdpa_plain{suffix}"] for e in extras]
        summary[label] = {
            "worst ours/sdpa (target <= 1.1)": max(vs_sdpa) if vs_sdpa else None,
            "median ours/sdpa": statistics.median(vs_sdpa) if vs_sdpa else None,
            "cases ours/sdpa <= 1.1": f"{sum(r <= 1.1 for r in vs_sdpa)}/{len(vs_sdpa)}",
            "worst extra-option ours / sdpa plain (target <= 1.0)": max(vs_plain) if vs_plain else None,
            "extra-option cases <= 1.0": f"{sum(r <= 1.0 for r in vs_plain)}/{len(vs_plain)}",
        }
    vs_naive = [c["naive_over_ours"] for c in cases if c["S"] == 2048 and c.get("naive_over_ours")]
    summary["wall"]["worst naive/ours at S=2048 (target >= 3)"] = min(vs_naive) if vs_naive else None
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
