"""Compile every csrc/**/*.cu with nvcc for sm_80 and sm_90 as a syntax and type check (no GPU needed)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def torch_includes() -> list[str]:
    from torch.utils.cpp_extension import include_paths

    return include_paths()


def _cpu_wheel_shims(tmp: Path) -> list[str]:
    """A CPU torch wheel ships the c10/cuda headers but not the header CMake generates for them."""
    for include in torch_includes():
        if (Path(include) / "c10/cuda/impl/cuda_cmake_macros.h").exists():
            return []
    shim = tmp / "shim" / "c10/cuda/impl"
    shim.mkdir(parents=True)
    (shim / "cuda_cmake_macros.h").write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
    return [str(tmp / "shim")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", action="append", default=None, help="SM architectures (default: 80 and 90)")
    parser.add_argument("files", nargs="*", type=Path, help="the .cu files (default: all under csrc/)")
    args = parser.parse_args(argv)
    nvcc = shutil.which("nvcc") or os.environ.get("NVCC")
    if nvcc is None:
        print("cuda_compile: nvcc not found on PATH", file=sys.stderr)
        return 2
    files = args.files or sorted((ROOT / "csrc").rglob("*.cu"))
    if not files:
        print("cuda_compile: no .cu files under csrc/")
        return 0
    import torch

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        includes = [f"-I{p}" for p in [*torch_includes(), str(ROOT / "csrc"), *_cpu_wheel_shims(Path(tmp))]]
        for arch in args.arch or ["80", "90"]:
            for cu in files:
                cmd = [
                    nvcc, "-c", str(cu), "-o", str(Path(tmp) / f"{cu.stem}_{arch}.o"),
                    f"-gencode=arch=compute_{arch},code=sm_{arch}", "-std=c++17", "-O2",
                    "--expt-relaxed-constexpr", "-Xcompiler", "-fPIC", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
                    "-DINFOMIX_WITH_CUDA", *includes,
                ]  # fmt: skip
                result = subprocess.run(cmd, capture_output=True, text=True)
                status = "ok" if result.returncode == 0 else "FAILED"
                print(f"sm_{arch} {cu}: {status}", flush=True)
                if result.returncode != 0:
                    failures += 1
                    print(result.stderr[-6000:], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
