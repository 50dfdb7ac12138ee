"""The two backends of the ops (`ops.backend` components): compiled kernels and the PyTorch reference."""

from __future__ import annotations

from typing import Any

from infomix.core.hookspecs import hookimpl
from infomix.ops import _library


class CompiledBackend:
    """The C++/CUDA kernels of `csrc/`, loaded from `infomix/ops/_C`."""

    name = "compiled"

    def available(self) -> bool:
        return _library.load()

    def kernels(self) -> dict[str, list[str]]:
        info = _library.build_info()
        return {"cpu": list(info.get("cpu_kernels", [])), "cuda": list(info.get("cuda_kernels", []))}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "available": self.available(), "kernels": self.kernels()}


class ReferenceBackend:
    """The pure-PyTorch reference of every op; `with backend: ...` forces it for the ops called inside."""

    name = "reference"

    def available(self) -> bool:
        return True

    def __enter__(self) -> ReferenceBackend:
        _library.use_reference().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        _library.use_reference().__exit__()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "available": True}


@hookimpl
def register_components(register: Any) -> None:
    register("ops.backend", "compiled", CompiledBackend)
    register("ops.backend", "reference", ReferenceBackend)
