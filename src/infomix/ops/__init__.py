"""Compiled ops shared by every package, each with a PyTorch reference and fake/autograd registration."""

from infomix.ops._library import build_info, has_kernel, load, use_reference
from infomix.ops.attention import Attention, attention
from infomix.ops.cross_entropy import LinearCrossEntropy, linear_cross_entropy
from infomix.ops.quant_matmul import QuantizedWeight, dequantize, pack, quant_matmul, unpack

__all__ = [
    "Attention",
    "LinearCrossEntropy",
    "QuantizedWeight",
    "attention",
    "build_info",
    "dequantize",
    "has_kernel",
    "linear_cross_entropy",
    "load",
    "pack",
    "quant_matmul",
    "unpack",
    "use_reference",
]
