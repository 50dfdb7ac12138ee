"""Load the compiled kernels (`infomix/ops/_C`) once, report build information, define ops with fallbacks."""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

NAMESPACE = "infomix"
_HERE = Path(__file__).resolve().parent
_BUILD_INFO = _HERE / "_build_info.json"
_load_error: str | None = None


def _library_path() -> Path | None:
    for pattern in ("_C.so", "_C*.so", "_C.dylib", "_C.pyd", "_C.dll"):
        found = sorted(_HERE.glob(pattern))
        if found:
            return found[0]
    return None


@functools.cache
def load() -> bool:
    """Load `_C` into the dispatcher; on failure warn once and return False (ops use their references)."""
    global _load_error
    path = _library_path()
    if path is None:
        _load_error = "no compiled library was installed (the C++ build failed or was skipped)"
    else:
        try:
            torch.ops.load_library(str(path))
        except (OSError, RuntimeError) as exc:
            _load_error = f"loading {path.name} failed: {exc}"
    if _load_error is not None:
        warnings.warn(
            f"infomix: compiled kernels are not available ({_load_error}); every op uses its PyTorch reference. "
            "Run `infomix doctor` for details.",
            UserWarning,
            stacklevel=3,
        )
        return False
    return True


def build_info() -> dict[str, Any]:
    """What was compiled: torch and CUDA versions at build time, kernel families per device, load status."""
    compiled = load()
    info: dict[str, Any] = {"compiled": compiled, "library": str(_library_path() or ""), "error": _load_error}
    if _BUILD_INFO.exists():
        raw = json.loads(_BUILD_INFO.read_text())
        for flag in ("with_cuda", "openmp"):
            raw[flag] = str(raw.get(flag, "")).upper() in {"ON", "1", "TRUE"}
        info.update(raw)
    else:
        info.update({"cpu_kernels": [], "cuda_kernels": [], "with_cuda": False, "openmp": False})
    info["runtime_torch_version"] = torch.__version__
    if info.get("torch_version") and info["torch_version"] != torch.__version__:
        info["warning"] = f"built against torch {info['torch_version']}, running torch {torch.__version__}: rebuild"
    return info


def has_kernel(name: str, dispatch_key: str) -> bool:
    """Whether op `infomix::name` has a kernel registered for `dispatch_key` (e.g. "CPU", "CUDA")."""
    return bool(torch._C._dispatch_has_kernel_for_dispatch_key(f"{NAMESPACE}::{name}", dispatch_key))


_fallback_lib: torch.library.Library | None = None


def define_op(name: str, schema: str, reference: Callable[..., Any]) -> Any:
    """Return `torch.ops.infomix.<name>`, defining it (and its reference kernels) where `_C` did not.

    The compiled library defines the schema in C++; this Python copy is used only when the library is
    missing, and a test checks both agree. Devices without a compiled kernel run `reference`.
    """
    global _fallback_lib
    load()
    if _fallback_lib is None:
        _fallback_lib = torch.library.Library(NAMESPACE, "FRAGMENT")
    qualname = f"{NAMESPACE}::{name}"
    if not _has_schema(qualname):
        _fallback_lib.define(f"{name}{schema}")
    for key in ("CPU", "CUDA"):  # fakes are registered by each op module with torch.library.register_fake
        if not has_kernel(name, key):
            _fallback_lib.impl(name, reference, key)
    return getattr(torch.ops.infomix, name)


def _has_schema(qualname: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(qualname, "")
    except RuntimeError:
        return False
    return True


_reference_depth = 0


class use_reference:
    """Within this context every op front runs its pure-PyTorch reference instead of the kernels."""

    def __enter__(self) -> None:
        global _reference_depth
        _reference_depth += 1

    def __exit__(self, *exc: object) -> None:
        global _reference_depth
        _reference_depth -= 1


def reference_forced() -> bool:
    """True inside `use_reference()`."""
    return _reference_depth > 0
