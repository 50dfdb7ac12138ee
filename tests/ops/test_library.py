"""The compiled library: build information, loading, and op definition with a reference fallback."""

import json
from pathlib import Path

import pytest
import torch

import infomix.ops
from infomix.ops import _library

ROOT = Path(__file__).resolve().parents[2]


def test_build_info_describes_the_build():
    info = infomix.ops.build_info()
    for key in ("compiled", "cpu_kernels", "cuda_kernels", "with_cuda", "runtime_torch_version"):
        assert key in info
    if not info["compiled"]:
        pytest.skip(f"compiled library not available: {info['error']}")
    assert info["torch_version"] == torch.__version__
    families = sorted({p.parent.name for p in (ROOT / "csrc").glob("*/*.cpp")})
    assert sorted(info["cpu_kernels"]) == families
    assert info["with_cuda"] == bool(info["cuda_kernels"])
    assert info["openmp"], "kernels built without OpenMP run at::parallel_for serially"
    json.dumps(info)  # serialisable for `infomix doctor --json`


def scale_reference(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return x * alpha


def test_define_op_falls_back_to_the_reference_and_use_reference_is_scoped():
    op = _library.define_op("_selftest_scale", "(Tensor x, float alpha) -> Tensor", scale_reference)
    x = torch.randn(5, 3)
    torch.testing.assert_close(op(x, 2.5), x * 2.5)
    assert _library.has_kernel("_selftest_scale", "CPU")
    again = _library.define_op("_selftest_scale", "(Tensor x, float alpha) -> Tensor", scale_reference)
    assert again is op
    assert not _library.reference_forced()
    with _library.use_reference():
        assert _library.reference_forced()
    assert not _library.reference_forced()
