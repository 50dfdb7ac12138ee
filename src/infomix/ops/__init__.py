"""Compiled ops shared by every package, each with a PyTorch reference and fake/autograd registration."""

from infomix.ops._library import build_info, has_kernel, load
from infomix.ops.attention import Attention, attention

__all__ = ["Attention", "attention", "build_info", "has_kernel", "load"]
