"""A Linear layer with weight-only int4/int8 group-wise quantised weights, and `quantize_` to swap it into a model."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from infomix.ops.quant_matmul import SUPPORTED_BITS, QuantizedWeight, pack, quant_matmul


def _zero_code(bits: int) -> int:
    """The byte whose codes dequantise to zero in a symmetric weight (both nibbles 8 for 4-bit codes)."""
    return 0x88 if bits == 4 else 128


class QuantLinear(nn.Module):
    """``y = x · dequant(W)ᵀ + b`` with W stored as packed codes, scales and (asymmetric) offsets buffers.

    The codes and scales are buffers (saved in ``state_dict``, not trained); the bias stays a parameter.
    Build one from a float layer with :meth:`from_linear`, or swap every matching layer of a model with
    :func:`quantize_`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bits: int = 4,
        group_size: int | None = 128,
        symmetric: bool = True,
        device: torch.device | str | None = None,
        bias_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        group = in_features if group_size is None else group_size
        if bits not in SUPPORTED_BITS:
            raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
        if group < 1 or in_features % group or (bits == 4 and group % 2):
            raise ValueError(
                f"group_size must divide in_features {in_features} (and be even for 4-bit codes), got {group_size}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.group_size, self.symmetric = bits, group, symmetric
        # Placeholders (a zero weight) until from_linear, load_quantized or load_state_dict fills them.
        groups = in_features // group
        self.register_buffer(
            "qdata",
            torch.full((out_features, in_features * bits // 8), _zero_code(bits), dtype=torch.uint8, device=device),
        )
        self.register_buffer("scales", torch.ones(out_features, groups, device=device))
        self.register_buffer("offsets", None if symmetric else torch.zeros(out_features, groups, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, device=device, dtype=bias_dtype)) if bias else None

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, bits: int = 4, group_size: int | None = 128, symmetric: bool = True
    ) -> QuantLinear:
        """Round-to-nearest quantisation of `linear`'s weight; the bias is copied unchanged."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects an nn.Linear, got {type(linear).__name__}")
        qw = pack(linear.weight.detach(), bits, group_size, symmetric)
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            bits=bits,
            group_size=qw.group_size,
            symmetric=symmetric,
            device=linear.weight.device,
            bias_dtype=linear.bias.dtype if linear.bias is not None else torch.float32,
        )
        layer.load_quantized(qw)
        if linear.bias is not None and layer.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(linear.bias)
        return layer

    def load_quantized(self, qw: QuantizedWeight) -> None:
        """Replace the stored weight by `qw` (same shape, bits, group size and symmetry)."""
        if (qw.shape, qw.bits, qw.group_size, qw.symmetric) != self._config()[:4]:
            raise ValueError(
                f"QuantizedWeight {qw.shape, qw.bits, qw.group_size, qw.symmetric} does not match this layer's "
                f"(shape, bits, group_size, symmetric) = {self._config()[:4]}"
            )
        self.qdata, self.scales, self.offsets = qw.qdata, qw.scales, qw.offsets

    @property
    def qweight(self) -> QuantizedWeight:
        return QuantizedWeight(
            self.qdata, self.scales, self.offsets, (self.out_features, self.in_features), self.bits, self.group_size
        )

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.qweight.dequantize(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return quant_matmul(x, self.qweight, self.bias)

    def _config(self) -> tuple[Any, ...]:
        return ((self.out_features, self.in_features), self.bits, self.group_size, self.symmetric)

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bits": self.bits,
            "group_size": self.group_size,
            "symmetric": self.symmetric,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        mine = self.get_extra_state()
        if state != mine:
            raise ValueError(f"QuantLinear state was saved with {state} but this layer is {mine}")

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"bits={self.bits}, group_size={self.group_size}, symmetric={self.symmetric}"
        )


def _matches(name: str, patterns: Iterable[str] | None) -> bool:
    return patterns is not None and any(fnmatch.fnmatchcase(name, p) for p in patterns)


def quantize_(
    model: nn.Module,
    bits: int = 4,
    group_size: int | None = 128,
    symmetric: bool = True,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    types: tuple[type[nn.Module], ...] = (nn.Linear,),
    filter_fn: Callable[[str, nn.Module], bool] | None = None,
) -> list[str]:
    """Replace, in place, every `types` layer of `model` that passes the filters by a :class:`QuantLinear`.

    include / exclude: glob patterns over qualified module names (``"layers.*.mlp.*"``); a layer is
    swapped when it matches some include pattern (or include is None), no exclude pattern, and
    ``filter_fn(name, module)`` (when given) is true. Returns the names of the swapped layers.
    To load a saved quantised state dict, build the float model, call ``quantize_`` with the same
    arguments, then ``load_state_dict``.
    """
    include = None if include is None else list(include)
    exclude = None if exclude is None else list(exclude)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, nn.Linear)):
            raise TypeError(f"types must be nn.Linear subclasses, got {t!r}")
    chosen = [
        name
        for name, module in model.named_modules()
        if isinstance(module, types)
        and not isinstance(module, QuantLinear)
        and (include is None or _matches(name, include))
        and not _matches(name, exclude)
        and (filter_fn is None or filter_fn(name, module))
    ]
    if "" in chosen:
        raise ValueError("quantize_ swaps submodules; pass a model that contains the Linear layers, not the layer")
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        linear = getattr(parent, child)
        k = linear.in_features
        if group_size is not None and k % group_size:
            raise ValueError(f"layer {name!r}: group_size {group_size} does not divide in_features {k}; exclude it")
        setattr(parent, child, QuantLinear.from_linear(linear, bits, group_size, symmetric))
    return chosen


__all__ = ["QuantLinear", "quantize_"]
