"""Compiled ops shared by every package, each with a PyTorch reference and fake/autograd registration."""

from infomix.ops._library import build_info, has_kernel, load

__all__ = ["build_info", "has_kernel", "load"]
