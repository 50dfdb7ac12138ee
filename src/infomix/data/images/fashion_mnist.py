"""Fashion-MNIST (Xiao et al. 2017): 70,000 28×28 grey clothing images in 10 classes, from Debian's package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infomix.data.catalog import FASHION_MNIST, FASHION_MNIST_DIR
from infomix.data.errors import DataError
from infomix.data.images.idx import read_idx
from infomix.data.sources import Source, fetch

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SPLITS = {"train": ("train", 60_000), "test": ("t10k", 10_000)}


@dataclass(frozen=True)
class FashionMNIST:
    """Fashion-MNIST: `load("train")` gives 60k images, `load("test")` 10k, as uint8 [N, 28, 28] and int64 labels.

    Fetched once from the pinned Debian package `dataset-fashion-mnist` (sha256-checked, cached under
    INFOMIX_CACHE); ``source`` may point elsewhere (e.g. a local copy of the package) for offline machines.
    """

    source: Source = FASHION_MNIST
    name = "fashion-mnist"
    summary = "Fashion-MNIST: 60k train / 10k test 28x28 grey images, 10 classes (Debian dataset-fashion-mnist)"
    classes = CLASSES

    def prepare(self) -> Path:
        """Fetch and verify the package (once); return the folder holding the four IDX files."""
        return fetch(self.source) / FASHION_MNIST_DIR

    def load(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 [N, 28, 28], labels int64 [N]) of `split` ("train" or "test")."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        prefix, count = SPLITS[split]
        folder = self.prepare()
        images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise DataError(f"fashion-mnist {split}: expected {count} 28x28 images, got {images.shape}, {labels.shape}")
        return images, labels

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "data.images",
            "summary": self.summary,
            "classes": list(self.classes),
            "splits": {k: v[1] for k, v in SPLITS.items()},
            "source": self.source.info(),
        }
