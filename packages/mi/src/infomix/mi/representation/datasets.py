"""Built-in two-view data: digit and Fashion-MNIST image halves, and the correlated 2-D Gaussian pairs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from infomix.mi.representation.views import PairedViews, ViewSplit, image_halves


def digits_halves(test_size: int = 597, seed: int = 0) -> ViewSplit:
    """scikit-learn's 1,797 8×8 digits (pixels 0..16 scaled to [0, 1]) as top/bottom halves [N, 1, 4, 8]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits views need scikit-learn: pip install 'infomix-mi[representation]'") from None
    digits = load_digits()
    n = digits.images.shape[0]
    if not 2 <= test_size <= n - 2:
        raise ValueError(f"test_size must be in [2, {n - 2}], got {test_size}")
    order = np.random.default_rng(seed).permutation(n)
    views = image_halves(digits.images[order] / 16.0, digits.target[order])
    return ViewSplit("digits", views.subset(slice(test_size, None)), views.subset(slice(0, test_size)))


def fashion_mnist_halves(n_train: int | None = None, n_test: int | None = None) -> ViewSplit:
    """Fashion-MNIST (the pinned `data.images:fashion-mnist`) as top/bottom halves [N, 1, 14, 28] in [0, 1].

    ``n_train`` / ``n_test`` keep the first rows of each split (the files are already shuffled).
    """
    from infomix.data.images import FashionMNIST

    data = FashionMNIST()
    parts = []
    for split, count in (("train", n_train), ("test", n_test)):
        images, labels = data.load(split)
        if count is not None:
            if not 2 <= count <= len(labels):
                raise ValueError(f"n_{split} must be in [2, {len(labels)}], got {count}")
            images, labels = images[:count], labels[:count]
        parts.append(image_halves(images, labels))
    return ViewSplit("fashion-mnist", parts[0], parts[1])


@dataclass(frozen=True)
class GaussianViews:
    """Pairs (x, y) = z + ε in 1-D each: z ~ N(0, shared_cov), ε ~ N(0, noise_cov), fresh per draw.

    With ``iid=False`` one z is shared by the whole batch (the non-i.i.d. batches of Tschannen et al., §3.3):
    the marginal law of each pair is unchanged, so the true MI is too, but within a batch the negatives no
    longer follow the product of the marginals. Defaults give I(x; y) = −½ log(1 − 0.2²) ≈ 0.0204 nats.
    """

    iid: bool = True
    shared_cov: tuple[tuple[float, float], tuple[float, float]] = ((1.0, -0.5), (-0.5, 1.0))
    noise_cov: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.9), (0.9, 1.0))

    @property
    def mutual_information(self) -> float:
        c = np.asarray(self.shared_cov) + np.asarray(self.noise_cov)
        rho = c[0, 1] / math.sqrt(c[0, 0] * c[1, 1])
        return -0.5 * math.log1p(-(rho**2))

    def sample(self, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if k < 2:
            raise ValueError(f"batch size must be >= 2, got {k}")
        shared = torch.linalg.cholesky(torch.tensor(self.shared_cov, dtype=torch.float64))
        noise = torch.linalg.cholesky(torch.tensor(self.noise_cov, dtype=torch.float64))
        z = torch.randn(k if self.iid else 1, 2, generator=generator, dtype=torch.float64) @ shared.T
        eps = torch.randn(k, 2, generator=generator, dtype=torch.float64) @ noise.T
        xy = (z + eps).to(torch.float32)
        return xy[:, :1], xy[:, 1:]

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (1,), (1,)


VIEW_DATA = ("digits", "fashion-mnist", "gaussian", "gaussian-noniid")


def load_views(name: str, **params: Any) -> ViewSplit | tuple[GaussianViews, GaussianViews]:
    """A built-in data set by name: a ViewSplit for the images, (train, test) sources for the Gaussians."""
    if name == "digits":
        return digits_halves(**params)
    if name == "fashion-mnist":
        return fashion_mnist_halves(**params)
    if name in ("gaussian", "gaussian-noniid"):
        source = GaussianViews(iid=name == "gaussian", **params)
        return source, source
    raise ValueError(f"unknown view data {name!r}; built in: {', '.join(VIEW_DATA)}")


__all__ = ["GaussianViews", "PairedViews", "digits_halves", "fashion_mnist_halves", "load_views"]
