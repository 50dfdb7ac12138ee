"""Weight-only int4/int8 quant_matmul vs fp32/bf16 F.linear and ATen's int4pack/int8pack kernels, one run.

Each weight is replicated into enough copies (≥ 256 MiB together) that successive calls read it from
memory rather than from the 32 MiB L3, as a decoding model does. Times are medians of repeats; GB/s is
the weight bytes (codes + scales) read per call divided by the time. Writes benchmarks/results/quant_matmul.json.

    python benchmarks/bench_quant_matmul.py            # K=N=4096 and N=11008×K=4096, M ∈ {1, 4, 16, 128}
    python benchmarks/bench_quant_matmul.py --smoke    # tiny shapes, seconds
    python benchmarks/bench_quant_matmul.py --threads 1 --clock cpu   # on a shared machine: CPU time of one thread
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from infomix.ops import build_info, pack, quant_matmul, unpack

RESULTS = Path(__file__).resolve().parent / "results" / "quant_matmul.json"
ROTATION_BYTES = 256 * 2**20


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def median_ms(
    fn: Callable[[], object], min_time: float, clock: Callable[[], float], min_reps: int = 5, max_reps: int = 200
) -> tuple[float, int]:
    """Median time of one call; `clock` is wall time or (single-threaded runs) this thread's CPU time."""
    for _ in range(2):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times) * 1e3, len(times)


def rotating(make: Callable[[], object], nbytes: int, rotation_bytes: int) -> list[object]:
    copies = max(2, -(-rotation_bytes // max(nbytes, 1)))
    return [make() for _ in range(copies)]


def cycle(items: list[object]) -> Callable[[], object]:
    state = {"i": 0}

    def next_item() -> object:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]

    return next_item


def aten_int4_operands(weight: torch.Tensor, group: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Our symmetric int4 codes in ATen's CPU int4pack layout: w = (q − 8)·scale + zero, zero = 0."""
    qw = pack(weight, 4, group, symmetric=True)
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(unpack(qw).to(torch.int32), 2)
    scale_zero = torch.stack([qw.scales.T, torch.zeros_like(qw.scales.T)], dim=-1).to(dtype).contiguous()
    return packed, scale_zero


def run_shape(n: int, k: int, ms: list[int], group: int, args: argparse.Namespace) -> list[dict]:
    torch.manual_seed(0)
    weight = torch.randn(n, k) / k**0.5
    rows = []
    has_int4pack = hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")
    has_int8pack = hasattr(torch.ops.aten, "_weight_int8pack_mm")

    # name -> (bytes per call, factory of one weight copy, call(x, w))
    variants: dict[
        str, tuple[int, Callable[[], object], Callable[[torch.Tensor, object], torch.Tensor], torch.dtype]
    ] = {
        "fp32 F.linear": (n * k * 4, lambda: weight.clone(), lambda x, w: F.linear(x, w), torch.float32),
        "bf16 F.linear": (n * k * 2, lambda: weight.bfloat16(), lambda x, w: F.linear(x, w), torch.bfloat16),
    }
    q4 = pack(weight, 4, group)
    q8 = pack(weight, 8, None)
    variants[f"ours int4 g{group}, fp32 x"] = (q4.nbytes, lambda: pack(weight, 4, group), quant_matmul, torch.float32)
    variants[f"ours int4 g{group}, bf16 x"] = (q4.nbytes, lambda: pack(weight, 4, group), quant_matmul, torch.bfloat16)
    variants["ours int8 per-channel, fp32 x"] = (q8.nbytes, lambda: pack(weight, 8, None), quant_matmul, torch.float32)
    variants["ours int8 per-channel, bf16 x"] = (q8.nbytes, lambda: pack(weight, 8, None), quant_matmul, torch.bfloat16)
    if has_int4pack:
        for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            variants[f"aten int4pack g{group}, {tag} x"] = (
                q4.nbytes // 2 + n * (k // group) * 2 * (2 if dtype == torch.bfloat16 else 4),
                lambda dtype=dtype: aten_int4_operands(weight, group, dtype),
                lambda x, w: torch.ops.aten._weight_int4pack_mm_for_cpu(x, w[0], group, w[1]),
                dtype,
            )
    if has_int8pack:
        codes8 = (unpack(q8).to(torch.int16) - 128).to(torch.int8)
        for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            variants[f"aten int8pack per-channel, {tag} x"] = (
                n * k + n * (2 if dtype == torch.bfloat16 else 4),
                lambda dtype=dtype: (codes8.clone(), q8.scales[:, 0].to(dtype)),
                lambda x, w: torch.ops.aten._weight_int8pack_mm(x, w[0], w[1]),
                dtype,
            )

    xs = {m: torch.randn(m, k) for m in ms}
    reference = {m: xs[m].double() @ weight.double().T for m in ms}
    times: dict[tuple[str, int], float] = {}
    for name, (nbytes, make, call, dtype) in variants.items():
        copies = rotating(make, nbytes, args.rotation_bytes)
        nxt = cycle(copies)
        for m in ms:
            if name.startswith("aten") and "fp32 x" in name and m > args.aten_fp32_max_m:
                continue  # ATen's fp32-activation paths are 10–30× slower; measured only at small M
            x = xs[m].to(dtype)
            out = call(x, copies[0])
            err = ((out.double() - reference[m]).norm() / reference[m].norm()).item()
            t, reps = median_ms(lambda x=x, call=call, nxt=nxt: call(x, nxt()), args.min_time, CLOCKS[args.clock])
            times[(name, m)] = t
            rows.append(
                {
                    "N": n, "K": k, "M": m, "variant": name, "dtype_x": str(dtype).replace("torch.", ""),
                    "median_ms": round(t, 4), "reps": reps, "weight_bytes": nbytes,
                    "weight_GBps": round(nbytes / t / 1e6, 2), "rel_error_vs_float_weight": float(f"{err:.3g}"),
                }
            )  # fmt: skip
            print(
                f"N={n:6d} K={k} M={m:4d}  {name:36s} {t:9.3f} ms  {nbytes / t / 1e6:7.1f} GB/s  err {err:.2e}",
                flush=True,
            )
        del copies, nxt
    for row in rows:
        m = row["M"]
        row["speedup_vs_fp32_linear"] = round(times[("fp32 F.linear", m)] / row["median_ms"], 3)
        row["speedup_vs_bf16_linear"] = round(times[("bf16 F.linear", m)] / row["median_ms"], 3)
        aten4 = [times[key] for key in times if key[1] == m and key[0].startswith("aten int4pack")]
        if aten4:
            row["speedup_vs_best_aten_int4pack"] = round(min(aten4) / row["median_ms"], 3)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes and few repeats (CI)")
    parser.add_argument("--out", type=Path, default=None, help=f"results json (default {RESULTS}; smoke: none)")
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--min-time", type=float, default=0.6, help="seconds of repeats per case")
    parser.add_argument("--aten-fp32-max-m", type=int, default=16)
    parser.add_argument("--rotation-bytes", type=int, default=ROTATION_BYTES)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this thread's CPU time (with --threads 1; robust on a shared machine)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and torch.get_num_threads() != 1:
        parser.error("--clock cpu measures one thread's CPU time: use it with --threads 1")
    if args.smoke:
        shapes, ms = [(256, 256)], [1, 16]
        args.group_size, args.min_time, args.rotation_bytes = 64, 0.02, 2**20
    else:
        shapes, ms = [(4096, 4096), (11008, 4096)], [1, 4, 16, 128]
    out = args.out if args.out is not None else (None if args.smoke else RESULTS)

    load_before = os.getloadavg()
    started = time.time()
    rows = []
    for n, k in shapes:
        rows += run_shape(n, k, ms, args.group_size, args)
    info = build_info()
    result = {
        "benchmark": "quant_matmul",
        "smoke": args.smoke,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.processor() or platform.machine(),
        "compiled_kernels": info.get("cpu_kernels", []),
        "group_size_int4": args.group_size,
        "rotation_bytes": args.rotation_bytes,
        "timing": f"median of ≥5 repeats over ≥{args.min_time} s per case, after 2 warm-up calls",
        "clock": "thread CPU time (time.thread_time)" if args.clock == "cpu" else "wall time (time.perf_counter)",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    print("\nM=1 summary (speedup = fp32 F.linear time / variant time):")
    for row in rows:
        if row["M"] == 1:
            aten = row.get("speedup_vs_best_aten_int4pack")
            aten_text = f"  vs best aten int4pack {aten:5.2f}×" if aten is not None else ""
            print(f"  N={row['N']:6d} {row['variant']:36s} {row['speedup_vs_fp32_linear']:6.2f}×{aten_text}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=out.parent, suffix=".tmp", delete=False) as tmp:
            json.dump(result, tmp, indent=1)
        os.replace(tmp.name, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
