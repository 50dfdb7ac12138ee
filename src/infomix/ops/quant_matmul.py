"""Weight-only int8/int4 group-wise quantised matmul: the packed format, pack/unpack/dequantize, op front, reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from infomix.ops import _library

QUANT_MATMUL_SCHEMA = "(Tensor x, Tensor qdata, Tensor scales, Tensor? offsets, int bits, Tensor? bias=None) -> Tensor"
SUPPORTED_BITS = (4, 8)
ACTIVATION_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True, eq=False)
class QuantizedWeight:
    """A weight [out_features, in_features] stored as `bits`-bit codes with one scale per group of inputs.

    Element (n, k) in group g = k // group_size dequantises to ``w = q · scales[n, g] + offsets[n, g]``;
    symmetric weights have no offsets and use ``w = (q − 2^(bits−1)) · scales[n, g]``.

    - ``qdata``: uint8 [N, K·bits/8]. 8-bit: one code per byte. 4-bit: element 2i in the low nibble and
      element 2i+1 in the high nibble of byte i.
    - ``scales``: float32 [N, K / group_size]; ``offsets``: float32 of the same shape, or None.
    """

    qdata: torch.Tensor
    scales: torch.Tensor
    offsets: torch.Tensor | None
    shape: tuple[int, int]
    bits: int
    group_size: int

    def __post_init__(self) -> None:
        _check_format(self.qdata, self.scales, self.offsets, self.shape, self.bits, self.group_size)

    @property
    def out_features(self) -> int:
        return self.shape[0]

    @property
    def in_features(self) -> int:
        return self.shape[1]

    @property
    def symmetric(self) -> bool:
        return self.offsets is None

    @property
    def device(self) -> torch.device:
        return self.qdata.device

    @property
    def nbytes(self) -> int:
        """Bytes read per matmul: codes, scales and offsets."""
        tensors = [self.qdata, self.scales] + ([] if self.offsets is None else [self.offsets])
        return sum(t.numel() * t.element_size() for t in tensors)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(self, dtype)

    def to(self, device: torch.device | str) -> QuantizedWeight:
        offsets = None if self.offsets is None else self.offsets.to(device)
        return QuantizedWeight(
            self.qdata.to(device), self.scales.to(device), offsets, self.shape, self.bits, self.group_size
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors only, so that `torch.save(..., weights_only)` and safetensors can store it."""
        state = {
            "qdata": self.qdata,
            "scales": self.scales,
            "meta": torch.tensor([*self.shape, self.bits, self.group_size], dtype=torch.int64),
        }
        if self.offsets is not None:
            state["offsets"] = self.offsets
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> QuantizedWeight:
        missing = {"qdata", "scales", "meta"} - set(state)
        if missing:
            raise KeyError(f"QuantizedWeight state is missing {sorted(missing)}")
        n, k, bits, group_size = (int(v) for v in state["meta"].tolist())
        return cls(state["qdata"], state["scales"], state.get("offsets"), (n, k), bits, group_size)


torch.serialization.add_safe_globals([QuantizedWeight])


def _check_format(
    qdata: torch.Tensor,
    scales: torch.Tensor,
    offsets: torch.Tensor | None,
    shape: tuple[int, int],
    bits: int,
    group_size: int,
) -> None:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
    n, k = shape
    if k % group_size:
        raise ValueError(f"group_size {group_size} must divide in_features {k}")
    if qdata.dtype != torch.uint8 or tuple(qdata.shape) != (n, k * bits // 8):
        raise ValueError(f"qdata must be uint8 of shape {(n, k * bits // 8)}, got {qdata.dtype} {tuple(qdata.shape)}")
    groups = k // group_size
    if scales.dtype != torch.float32 or tuple(scales.shape) != (n, groups):
        raise ValueError(f"scales must be float32 of shape {(n, groups)}, got {scales.dtype} {tuple(scales.shape)}")
    if offsets is not None and (offsets.dtype != torch.float32 or offsets.shape != scales.shape):
        raise ValueError(f"offsets must be float32 of shape {(n, groups)}, got {offsets.dtype} {tuple(offsets.shape)}")


def pack(weight: torch.Tensor, bits: int = 4, group_size: int | None = 128, symmetric: bool = True) -> QuantizedWeight:
    """Round-to-nearest quantisation of `weight` [N, K] with one scale per `group_size` inputs (None: per row).

    Symmetric: scale = max|w| / (2^(bits−1) − 1), codes q − 2^(bits−1) in [−(2^(bits−1) − 1), 2^(bits−1) − 1].
    Asymmetric: scale = (max − min) / (2^bits − 1), offset = min, codes in [0, 2^bits − 1].
    Every element then lies within half a step (scale / 2) of its original value.
    """
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be a 2-D tensor [out_features, in_features], got {shape}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got {weight.dtype}")
    n, k = weight.shape
    if n == 0 or k == 0:
        raise ValueError(f"weight must be non-empty, got shape {(n, k)}")
    group = k if group_size is None else group_size
    if not isinstance(group, int) or group < 1 or k % group:
        raise ValueError(f"group_size must be a positive divisor of in_features {k} or None, got {group_size}")
    if bits == 4 and group % 2:
        raise ValueError(f"4-bit packing needs an even group_size (two codes per byte), got {group}")
    finite = torch.isfinite(weight)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"weight contains {bad} NaN or infinite values; cannot quantise")
    w = weight.detach().to(torch.float32).reshape(n, k // group, group)
    tiny = torch.finfo(torch.float32).tiny
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scales = (w.abs().amax(dim=-1) / qmax).clamp_min(tiny)
        codes = torch.round(w / scales[..., None]).clamp(-qmax, qmax) + 2 ** (bits - 1)
        offsets = None
    else:
        levels = 2**bits - 1
        low, high = w.amin(dim=-1), w.amax(dim=-1)
        scales = ((high - low) / levels).clamp_min(tiny)
        codes = torch.round((w - low[..., None]) / scales[..., None]).clamp(0, levels)
        offsets = low.contiguous()
    codes = codes.reshape(n, k).to(torch.uint8)
    qdata = codes if bits == 8 else codes[:, 0::2] | (codes[:, 1::2] << 4)
    return QuantizedWeight(qdata.contiguous(), scales.contiguous(), offsets, (n, k), bits, group)


def unpack(qweight: QuantizedWeight) -> torch.Tensor:
    """The unsigned codes [N, K] (uint8) of a QuantizedWeight."""
    return _unpack_codes(qweight.qdata, qweight.bits, qweight.in_features)


def _unpack_codes(qdata: torch.Tensor, bits: int, k: int) -> torch.Tensor:
    if bits == 8:
        return qdata
    codes = torch.stack([qdata & 15, qdata >> 4], dim=-1)
    return codes.reshape(qdata.shape[0], k)


def _dequantize_raw(
    qdata: torch.Tensor, scales: torch.Tensor, offsets: torch.Tensor | None, bits: int, k: int
) -> torch.Tensor:
    codes = _unpack_codes(qdata, bits, k).to(torch.float32)
    n, groups = scales.shape
    codes = codes.reshape(n, groups, k // groups)
    if offsets is None:
        w = (codes - 2 ** (bits - 1)) * scales[..., None]
    else:
        w = codes * scales[..., None] + offsets[..., None]
    return w.reshape(n, k)


def dequantize(qweight: QuantizedWeight, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The float weight [N, K] that `qweight` encodes."""
    w = _dequantize_raw(qweight.qdata, qweight.scales, qweight.offsets, qweight.bits, qweight.in_features)
    return w.to(dtype)


def quant_matmul_reference(
    x: torch.Tensor,
    qdata: torch.Tensor,
    scales: torch.Tensor,
    offsets: torch.Tensor | None,
    bits: int,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pure-PyTorch `x @ dequant(W).T + bias`, in float32, returned in x's dtype."""
    w = _dequantize_raw(qdata, scales, offsets, bits, x.shape[-1])
    y = x.to(torch.float32) @ w.T
    if bias is not None:
        y = y + bias.to(torch.float32)
    return y.to(x.dtype)


_op = _library.define_op("quant_matmul", QUANT_MATMUL_SCHEMA, quant_matmul_reference)


@torch.library.register_fake("infomix::quant_matmul")
def _quant_matmul_fake(
    x: torch.Tensor,
    qdata: torch.Tensor,
    scales: torch.Tensor,
    offsets: torch.Tensor | None,
    bits: int,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    torch._check(bits in SUPPORTED_BITS, lambda: f"quant_matmul: bits must be 4 or 8, got {bits}")
    torch._check(
        qdata.shape[1] * 8 == x.shape[-1] * bits,
        lambda: f"quant_matmul: qdata has {qdata.shape[1]} bytes per row but x has in_features={x.shape[-1]}",
    )
    return x.new_empty((*x.shape[:-1], qdata.shape[0]))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, qdata, scales, offsets, bits, bias = inputs
    ctx.save_for_backward(qdata, scales, offsets)
    ctx.bits = bits
    ctx.in_features = x.shape[-1]
    ctx.x_dtype = x.dtype
    ctx.bias_dtype = None if bias is None else bias.dtype


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    qdata, scales, offsets = ctx.saved_tensors
    grad_x = grad_bias = None
    if ctx.needs_input_grad[0]:
        w = _dequantize_raw(qdata, scales, offsets, ctx.bits, ctx.in_features)
        grad_x = (grad.to(torch.float32) @ w).to(ctx.x_dtype)
    if ctx.bias_dtype is not None and ctx.needs_input_grad[5]:
        grad_bias = grad.to(torch.float32).reshape(-1, grad.shape[-1]).sum(0).to(ctx.bias_dtype)
    return grad_x, None, None, None, None, grad_bias


torch.library.register_autograd("infomix::quant_matmul", _backward, setup_context=_setup_context)


def quant_matmul(x: torch.Tensor, qweight: QuantizedWeight, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ dequant(qweight).T + bias`` with float32 accumulation, returned in x's dtype.

    x: [..., in_features] in float32, bfloat16 or float16; bias: [out_features] or None. Differentiable
    with respect to x and bias (the codes and scales are constants).
    """
    if not isinstance(qweight, QuantizedWeight):
        raise TypeError(f"qweight must be a QuantizedWeight (see infomix.ops.pack), got {type(qweight).__name__}")
    if not isinstance(x, torch.Tensor) or x.dtype not in ACTIVATION_DTYPES:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a float32, bfloat16 or float16 tensor, got {got}")
    if x.ndim == 0 or x.shape[-1] != qweight.in_features:
        raise ValueError(f"x must have shape [..., {qweight.in_features}] (in_features), got {tuple(x.shape)}")
    if x.device != qweight.device:
        raise ValueError(f"x is on {x.device} but qweight is on {qweight.device}")
    if bias is not None and (bias.shape != (qweight.out_features,) or not bias.is_floating_point()):
        raise ValueError(
            f"bias must be a floating tensor of shape ({qweight.out_features},), got {bias.dtype} {tuple(bias.shape)}"
        )
    args = (x, qweight.qdata, qweight.scales, qweight.offsets, qweight.bits, bias)
    if _library.reference_forced():
        return quant_matmul_reference(*args)
    return _op(*args)


__all__ = [
    "QUANT_MATMUL_SCHEMA",
    "QuantizedWeight",
    "dequantize",
    "pack",
    "quant_matmul",
    "quant_matmul_reference",
    "unpack",
]
