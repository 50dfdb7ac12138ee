"""Round-to-nearest: half-step error bound, exact grid points, group structure, validation."""

import pytest
import torch

from infomix.compression import RoundToNearest
from infomix.core.testing import check_quantizer


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("group_size", [16, 64, None])
@pytest.mark.parametrize("symmetric", [True, False])
def test_error_is_at_most_half_a_step(bits, group_size, symmetric):
    gen = torch.Generator().manual_seed(bits * 100 + (group_size or 0))
    w = torch.randn(37, 128, generator=gen) * torch.rand(37, 1, generator=gen) * 3
    q = RoundToNearest(bits, group_size, symmetric).quantize(w)
    group = group_size or 128
    step = q.step.repeat_interleave(group, dim=1)
    err = (q.dequantize() - w).abs()
    assert torch.all(err <= step / 2 + 1e-6 * w.abs().amax())
    levels = 2**bits - (1 if symmetric else 0)
    assert q.codes.unique().numel() <= levels


def test_grid_points_are_exact_and_more_bits_is_better():
    w = torch.randn(8, 64)
    q = RoundToNearest(4, 32).quantize(w)
    restored = q.dequantize()
    torch.testing.assert_close(RoundToNearest(4, 32).quantize(restored).dequantize(), restored)
    err4 = (restored - w).norm()
    err8 = (RoundToNearest(8, 32).quantize(w).dequantize() - w).norm()
    assert err8 < err4 / 8


def test_dtype_is_kept():
    w = torch.randn(4, 32, dtype=torch.bfloat16)
    assert RoundToNearest(8, 32).quantize(w).dequantize().dtype == torch.bfloat16


def test_conformance():
    check_quantizer(RoundToNearest(bits=4, group_size=64))


@pytest.mark.parametrize(
    ("kwargs", "weight", "message"),
    [
        ({"group_size": 48}, torch.randn(4, 64), "must divide"),
        ({}, torch.randn(4, 4, 4), "2-D"),
        ({}, torch.tensor([[1.0, float("nan")]]), "NaN"),
        ({}, torch.ones(2, 2, dtype=torch.int32), "floating point"),
    ],
)
def test_bad_input(kwargs, weight, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RoundToNearest(**kwargs).quantize(weight)


def test_bad_bits():
    with pytest.raises(ValueError, match="bits"):
        RoundToNearest(bits=16)
