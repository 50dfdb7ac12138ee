"""Compiled ops shared by every package, each with a PyTorch reference and fake/autograd registration."""

from infomix.ops._library import build_info, has_kernel, load
from infomix.ops.cross_entropy import LinearCrossEntropy, linear_cross_entropy

__all__ = ["LinearCrossEntropy", "build_info", "has_kernel", "linear_cross_entropy", "load"]
