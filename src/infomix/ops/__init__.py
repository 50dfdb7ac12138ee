"""Compiled ops shared by every package, each with a PyTorch reference and fake/autograd registration."""

from infomix.ops._library import build_info, has_kernel, load
from infomix.ops.attention import Attention, attention
from infomix.ops.quant_matmul import QuantizedWeight, dequantize, pack, quant_matmul, unpack

__all__ = [
    "Attention",
    "QuantizedWeight",
    "attention",
    "build_info",
    "dequantize",
    "has_kernel",
    "load",
    "pack",
    "quant_matmul",
    "unpack",
]
