"""What `infomix doctor` reports: Python, torch, CUDA, the compiled kernels and installed distributions."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

DISTRIBUTIONS = ("infomix", "infomix-mi", "infomix-mixing", "infomix-moe", "infomix-compression", "infomix-retrieval")


def installed_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def diagnose() -> dict[str, Any]:
    """Collect the environment facts that decide which kernels run."""
    import torch

    from infomix.ops import build_info

    cuda: dict[str, Any] = {"available": torch.cuda.is_available(), "torch_cuda_version": torch.version.cuda}
    if cuda["available"]:
        cuda["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        cuda["capability"] = [list(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
    info = build_info()
    problems = []
    if not info["compiled"]:
        problems.append(f"compiled kernels unavailable: {info.get('error')}; ops run their PyTorch references")
    if info.get("warning"):
        problems.append(info["warning"])
    if info["compiled"] and not info.get("openmp"):
        problems.append("the kernels were built without OpenMP: their parallel loops run on one thread")
    if cuda["available"] and not info.get("cuda_kernels"):
        problems.append("a CUDA device is present but no CUDA kernels were compiled (CUDA ops use references)")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": cuda,
        "build": info,
        "distributions": {d: installed_version(d) for d in DISTRIBUTIONS},
        "problems": problems,
    }
