"""Labelled image data sets (`data.images`): IDX files from pinned packages, loaded as uint8 arrays."""

from __future__ import annotations

from infomix.data.images.fashion_mnist import FashionMNIST
from infomix.data.images.idx import read_idx

__all__ = ["FashionMNIST", "read_idx"]
