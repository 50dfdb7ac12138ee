"""Tests of infomix.ops.quant_matmul: the packed format, quantisation error, kernels vs float64 reference, opcheck."""

from __future__ import annotations

import io

import pytest
import torch

from infomix.ops import QuantizedWeight, dequantize, pack, quant_matmul, unpack
from infomix.ops._library import build_info, has_kernel, use_reference
from infomix.ops.quant_matmul import QUANT_MATMUL_SCHEMA, quant_matmul_reference

COMPILED = build_info()["compiled"] and has_kernel("quant_matmul", "CPU")
GROUPS = [32, 64, 128, None, 48, 40]  # 48 and 40 leave a tail that is not a whole 16-element block
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
OUTPUT_EPS = {torch.float32: 0.0, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def _in_features(group_size: int | None) -> int:
    return 3 * group_size if group_size else 200


def _expected(x: torch.Tensor, qw: QuantizedWeight, bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The float64 product and a tolerance: the worst-case fp32 error of a K-term sum of products,
    (K + 4)·u·Σ|x||w| with u = 2^-24 (the extra terms cover dequantisation and the offsets), plus the
    rounding of the output dtype."""
    w = dequantize(qw, torch.float64)
    x64 = x.double()
    ref = x64 @ w.T + (0 if bias is None else bias.double())
    magnitude = x64.abs() @ w.abs().T + (0 if bias is None else bias.double().abs())
    tol = (x.shape[-1] + 4) * 2.0**-24 * magnitude + OUTPUT_EPS[x.dtype] * ref.abs() + 1e-30
    return ref, tol


def _assert_close(y: torch.Tensor, ref: torch.Tensor, tol: torch.Tensor) -> None:
    err = (y.double() - ref).abs()
    worst = (err / tol).max().item()
    assert worst <= 1.0, f"max |y - ref| / tol = {worst:.3g} (max abs err {err.max().item():.3g})"


# --- format -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group_size", GROUPS)
@pytest.mark.parametrize("symmetric", [True, False])
def test_pack_error_is_within_half_a_step(bits: int, group_size: int | None, symmetric: bool) -> None:
    n, k = 23, _in_features(group_size)
    weight = torch.randn(n, k) * torch.rand(n, 1) * 3
    qw = pack(weight, bits, group_size, symmetric)
    g = group_size or k
    step = qw.scales.repeat_interleave(g, dim=1)
    err = (dequantize(qw, torch.float64) - weight.double()).abs()
    # Half a step, plus the float32 rounding of q·s + o (relative to the row's magnitude, not to the step: an
    # asymmetric 8-bit step is 1/255 of the row's range).
    rounding = 4 * torch.finfo(torch.float32).eps * weight.abs().amax(dim=1, keepdim=True).double()
    assert bool((err <= step * 0.5 + rounding).all()), f"worst error {(err / step).max().item():.6f} steps"
    codes = unpack(qw)
    assert codes.dtype == torch.uint8
    assert tuple(codes.shape) == (n, k)
    assert int(codes.max()) < 2**bits
    if symmetric:
        assert int(codes.min()) >= 1  # codes − 2^(bits−1) lie in [−qmax, qmax]
    assert qw.scales.shape == (n, k // g)
    assert (qw.offsets is None) == symmetric


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_rounding_error_is_uniform_over_a_step(bits: int, symmetric: bool) -> None:
    # Round-to-nearest leaves an error spread evenly over [−step/2, step/2]: mean square step²/12.
    weight = torch.randn(256, 1024, dtype=torch.float64).float()
    qw = pack(weight, bits, 64, symmetric)
    step = qw.scales.double().repeat_interleave(64, dim=1)
    ratio = ((dequantize(qw, torch.float64) - weight.double()) / step).pow(2).mean().item() * 12
    assert ratio == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_requantising_the_dequantised_weight_gives_the_same_codes(bits: int, symmetric: bool) -> None:
    qw = pack(torch.randn(17, 256), bits, 64, symmetric)
    again = pack(dequantize(qw), bits, 64, symmetric)
    assert torch.equal(unpack(again), unpack(qw))
    torch.testing.assert_close(again.scales, qw.scales, rtol=1e-6, atol=0)


def test_nibble_layout_and_dequantisation_formula() -> None:
    # Built by hand: byte i of a row holds element 2i in its low nibble and 2i+1 in its high nibble.
    n, k, g = 5, 64, 32
    codes = torch.randint(0, 16, (n, k), dtype=torch.uint8)
    qdata = torch.empty(n, k // 2, dtype=torch.uint8)
    for r in range(n):
        for i in range(k // 2):
            qdata[r, i] = int(codes[r, 2 * i]) + 16 * int(codes[r, 2 * i + 1])
    scales, offsets = torch.rand(n, k // g) + 0.1, torch.randn(n, k // g)
    sym = QuantizedWeight(qdata, scales, None, (n, k), 4, g)
    asym = QuantizedWeight(qdata, scales, offsets, (n, k), 4, g)
    assert torch.equal(unpack(sym), codes)
    expected_sym = torch.empty(n, k, dtype=torch.float64)
    expected_asym = torch.empty(n, k, dtype=torch.float64)
    for r in range(n):
        for c in range(k):
            s, o = float(scales[r, c // g]), float(offsets[r, c // g])
            expected_sym[r, c] = (int(codes[r, c]) - 8) * s
            expected_asym[r, c] = int(codes[r, c]) * s + o
    torch.testing.assert_close(dequantize(sym, torch.float64), expected_sym, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(dequantize(asym, torch.float64), expected_asym, rtol=1e-6, atol=1e-6)


def test_serialises_with_torch_save_and_safetensors(tmp_path) -> None:
    qw = pack(torch.randn(9, 96), 4, 32, symmetric=False)
    buffer = io.BytesIO()
    torch.save(qw, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert isinstance(loaded, QuantizedWeight)
    assert torch.equal(dequantize(loaded), dequantize(qw))

    buffer = io.BytesIO()
    torch.save(qw.state_dict(), buffer)
    buffer.seek(0)
    again = QuantizedWeight.from_state_dict(torch.load(buffer, weights_only=True))
    assert (again.shape, again.bits, again.group_size) == (qw.shape, 4, 32)
    assert torch.equal(dequantize(again), dequantize(qw))

    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(qw.state_dict(), str(path))
    restored = QuantizedWeight.from_state_dict(safetensors_torch.load_file(str(path)))
    assert torch.equal(dequantize(restored), dequantize(qw))


@pytest.mark.parametrize(
    ("weight", "kwargs", "match"),
    [
        (torch.randn(4, 64), {"bits": 3}, "bits must be one of"),
        (torch.randn(4, 64), {"bits": 4, "group_size": 48}, "group_size must be a positive divisor"),
        (torch.randn(4, 64), {"bits": 8, "group_size": 0}, "group_size must be a positive divisor"),
        (torch.randn(4, 66), {"bits": 4, "group_size": 33}, "even group_size"),
        (torch.randn(64), {}, "2-D tensor"),
        (torch.randn(2, 4, 64), {}, "2-D tensor"),
        (torch.tensor([[1.0, float("nan")] * 32]), {"group_size": 32}, "NaN or infinite"),
        (torch.tensor([[1.0, float("inf")] * 32]), {"group_size": 32}, "NaN or infinite"),
    ],
)
def test_pack_rejects_bad_input(weight: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pack(weight, **kwargs)


def test_pack_rejects_integer_weights() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        pack(torch.randint(0, 5, (4, 64)))


# --- the op ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group_size", GROUPS)
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_float64_reference(bits: int, group_size: int | None, symmetric: bool, dtype: torch.dtype) -> None:
    n, k = 37, _in_features(group_size)
    qw = pack(torch.randn(n, k), bits, group_size, symmetric)
    bias = torch.randn(n)
    for leading in [(1,), (2,), (5,), (2, 8), (3, 11)]:  # M = 1, 2, 5, 16, 33: every kernel path
        x = torch.randn(*leading, k).to(dtype)
        y = quant_matmul(x, qw, bias)
        assert y.dtype == dtype
        assert tuple(y.shape) == (*leading, n)
        _assert_close(y, *_expected(x, qw, bias))


@pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("m", [1, 2, 4, 9, 16, 40])
@pytest.mark.parametrize("group_size", [80, 64, 96])
def test_every_instruction_set_path_agrees(bits: int, m: int, group_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # INFOMIX_QMM_ISA=scalar forces the portable kernels, =avx2 / =avx512 cap them; unset, the widest the CPU runs
    # (AVX-512, 32-weight blocks, where it has it) are used.
    qw = pack(torch.randn(45, 960), bits, group_size, symmetric=False)
    x = torch.randn(m, 960)
    expected = _expected(x, qw, None)
    results = {}
    for isa in ("", "avx512", "avx2", "scalar"):
        monkeypatch.setenv("INFOMIX_QMM_ISA", isa)
        results[isa] = quant_matmul(x, qw)
        _assert_close(results[isa], *expected)
    tol = 2 * expected[1]
    _assert_close(results[""], results["scalar"].double(), tol)
    _assert_close(results["avx2"], results["scalar"].double(), tol)
    _assert_close(results["avx512"], results["scalar"].double(), tol)


@pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")
@pytest.mark.parametrize(("group_size", "in_features"), [(128, 640), (256, 512), (None, 384), (64, 640), (64, 576)])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nibble_plane_groups_agree_on_every_path(
    group_size: int | None, in_features: int, symmetric: bool, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4-bit groups of 64 or of whole 128-element chunks (per-channel: in_features a multiple of 128), in_features a
    # multiple of 128, take the AVX-512 nibble-plane kernel for up to 16 rows where the CPU has AVX-512 (576 = 9 * 64
    # does not); the other paths must agree with it.
    qw = pack(torch.randn(53, in_features), 4, group_size, symmetric=symmetric)
    bias = torch.randn(53)
    for m in [1, 2, 3, 4, 5, 8, 9, 16, 17]:
        x = torch.randn(m, in_features).to(dtype)
        expected = _expected(x, qw, bias)
        results = {}
        for isa in ("", "avx512", "scalar"):
            monkeypatch.setenv("INFOMIX_QMM_ISA", isa)
            results[isa] = quant_matmul(x, qw, bias)
            assert results[isa].dtype == dtype
            _assert_close(results[isa], *expected)
        _assert_close(results["avx512"], results["scalar"].double(), 2 * expected[1])


@pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("m", [1, 3, 8, 11, 16])
@pytest.mark.parametrize(("group_size", "symmetric"), [(64, True), (96, False), (80, False)])
def test_bfloat16_activation_kernel_agrees(
    bits: int, m: int, group_size: int, symmetric: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bfloat16 x takes the AVX-512 BF16 kernel where the CPU has it (unset INFOMIX_QMM_ISA); =avx512 forces the
    # float32 kernels. Both must meet the float64 bound, and each other within twice it.
    qw = pack(torch.randn(37, 960), bits, group_size, symmetric=symmetric)
    x = torch.randn(m, 960).to(torch.bfloat16)
    expected = _expected(x, qw, None)
    results = {}
    for isa in ("", "avx512"):
        monkeypatch.setenv("INFOMIX_QMM_ISA", isa)
        results[isa] = quant_matmul(x, qw)
        assert results[isa].dtype == torch.bfloat16
        _assert_close(results[isa], *expected)
    _assert_close(results[""], results["avx512"].double(), 2 * expected[1])


def test_reference_context_and_kernel_agree() -> None:
    qw = pack(torch.randn(31, 256), 4, 128)
    x = torch.randn(3, 256)
    with use_reference():
        ref = quant_matmul(x, qw)
    expected, tol = _expected(x, qw, None)
    _assert_close(ref, expected, tol)
    _assert_close(quant_matmul(x, qw), ref.double(), 2 * tol)


def test_agrees_with_aten_int4pack_kernel() -> None:
    # An independent implementation: ATen's int4 weight-only kernel, w = (q − 8)·scale + zero.
    n, k, g = 64, 256, 32
    qw = pack(torch.randn(n, k), 4, g, symmetric=False)
    codes = unpack(qw).to(torch.int32)
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 2)
    zeros = qw.offsets + 8 * qw.scales  # our w = q·s + o  ==  (q − 8)·s + (o + 8s)
    scale_and_zero = torch.stack([qw.scales.T, zeros.T], dim=-1).contiguous()
    x = torch.randn(3, k)
    aten = torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, g, scale_and_zero)
    torch.testing.assert_close(quant_matmul(x, qw), aten, rtol=1e-4, atol=1e-4)


def test_gradients_match_float64_autograd() -> None:
    qw = pack(torch.randn(19, 96), 8, 32, symmetric=False)
    x = torch.randn(2, 5, 96, requires_grad=True)
    bias = torch.randn(19, requires_grad=True)
    grad_out = torch.randn(2, 5, 19)
    quant_matmul(x, qw, bias).backward(grad_out)
    x64 = x.detach().double().requires_grad_()
    b64 = bias.detach().double().requires_grad_()
    (x64 @ dequantize(qw, torch.float64).T + b64).backward(grad_out.double())
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bias.grad.double(), b64.grad, rtol=1e-5, atol=1e-5)


def test_gradcheck_in_x_and_bias() -> None:
    qw = pack(torch.randn(7, 64), 4, 32)

    def fn(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # float64 at the boundary, float32 inside
        return quant_matmul(x.float(), qw, bias.float()).double()

    x = torch.randn(3, 64, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, requires_grad=True)
    # The op is linear in x and bias, so central differences are exact up to float32 rounding.
    assert torch.autograd.gradcheck(fn, (x, bias), eps=0.5, atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize(
    ("bits", "symmetric", "with_bias", "m", "dtype"),
    [(4, True, True, 1, torch.float32), (8, False, False, 20, torch.float32), (4, False, True, 4, torch.bfloat16)],
)
def test_opcheck(bits: int, symmetric: bool, with_bias: bool, m: int, dtype: torch.dtype) -> None:
    qw = pack(torch.randn(13, 128), bits, 64, symmetric)
    x = torch.randn(m, 128, dtype=dtype, requires_grad=True)
    bias = torch.randn(13, requires_grad=True) if with_bias else None
    args = (x, qw.qdata, qw.scales, qw.offsets, bits, bias)
    torch.library.opcheck(torch.ops.infomix.quant_matmul.default, args)


@pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")
def test_compiled_schema_matches_python_schema() -> None:
    compiled = torch.ops.infomix.quant_matmul.default._schema
    declared = torch._C.parse_schema("infomix::quant_matmul" + QUANT_MATMUL_SCHEMA)
    assert str(compiled) == str(declared)


def test_nan_in_x_stays_in_its_row_and_empty_batches_work() -> None:
    qw = pack(torch.randn(11, 64), 4, 32)
    x = torch.randn(4, 64)
    x[2, 5] = float("nan")
    y = quant_matmul(x, qw)
    assert bool(torch.isnan(y[2]).all())
    assert bool(torch.isfinite(y[[0, 1, 3]]).all())
    assert tuple(quant_matmul(torch.randn(0, 64), qw).shape) == (0, 11)


def test_op_rejects_bad_input() -> None:
    qw = pack(torch.randn(11, 64), 4, 32)
    with pytest.raises(ValueError, match=r"x must have shape \[\.\.\., 64\]"):
        quant_matmul(torch.randn(3, 32), qw)
    with pytest.raises(TypeError, match="x must be a float32, bfloat16 or float16"):
        quant_matmul(torch.randn(3, 64).double(), qw)
    with pytest.raises(ValueError, match="bias must be a floating tensor of shape"):
        quant_matmul(torch.randn(3, 64), qw, torch.randn(12))
    with pytest.raises(TypeError, match="qweight must be a QuantizedWeight"):
        quant_matmul(torch.randn(3, 64), torch.randn(11, 64))
    with pytest.raises(ValueError, match="scales must be float32"):
        QuantizedWeight(qw.qdata, qw.scales.half(), None, (11, 64), 4, 32)


@pytest.mark.skipif(not COMPILED, reason="compiled kernels not built")
def test_compiled_kernel_checks_its_operands() -> None:
    qw = pack(torch.randn(11, 64), 8, 32)
    with pytest.raises(RuntimeError, match="bits must be 4 or 8"):
        torch.ops.infomix.quant_matmul(torch.randn(2, 64), qw.qdata, qw.scales, None, 2)
    with pytest.raises(RuntimeError, match="qdata has 64 bytes per row but x has in_features=32"):
        torch.ops.infomix.quant_matmul(torch.randn(2, 32), qw.qdata, qw.scales, None, 8)
    with pytest.raises(RuntimeError, match="scales must be a 2-D float32 tensor"):
        torch.ops.infomix.quant_matmul(torch.randn(2, 64), qw.qdata, qw.scales.double(), None, 8)


def test_reference_is_the_plain_formula() -> None:
    qw = pack(torch.randn(6, 64), 8, None, symmetric=True)
    x = torch.randn(2, 64)
    expected = x @ ((unpack(qw).float() - 128) * qw.scales).T
    got = quant_matmul_reference(x, qw.qdata, qw.scales, None, 8)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_matches_float64_reference(bits: int, symmetric: bool, dtype: torch.dtype) -> None:
    for group_size in (32, 128, None, 48):
        n, k = 257, _in_features(group_size) * 2
        qw = pack(torch.randn(n, k), bits, group_size, symmetric).to("cuda")
        bias = torch.randn(n, device="cuda")
        for m in (1, 7, 16, 17, 150):
            x = torch.randn(m, k, device="cuda").to(dtype)
            y = quant_matmul(x, qw, bias)
            ref, tol = _expected(x.cpu(), qw.to("cpu"), bias.cpu())
            _assert_close(y.cpu(), ref, tol)
