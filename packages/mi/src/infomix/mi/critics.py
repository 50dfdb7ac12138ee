"""Critic networks T(x, y) that score every (x_i, y_j) pair of a batch: joint, separable, bilinear, inner product."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def mlp(d_in: int, hidden: Sequence[int], d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(d_in, width), nn.ReLU()]
        d_in = width
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


class JointCritic(nn.Module):
    """T(x, y) = MLP([x, y]); scores all b² pairs of a batch (the most expressive, b² forward rows).

    The first layer is linear, W[x; y] + c = (W_x x + c) + W_y y, so it is applied to the b rows of x and
    of y separately and the b² pairs are formed by broadcasting its two halves: same function, without
    the b² × (dim_x + dim_y) concatenation and its matmul.
    """

    def __init__(self, dim_x: int, dim_y: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.dim_x = dim_x
        self.net = mlp(dim_x + dim_y, hidden, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        first = self.net[0]
        hx = F.linear(x, first.weight[:, : self.dim_x], first.bias)
        hy = F.linear(y, first.weight[:, self.dim_x :])
        return self.net[1:](hx[:, None, :] + hy[None, :, :]).squeeze(-1)


class SeparableCritic(nn.Module):
    """T(x, y) = g(x)·h(y) with g, h MLPs into `embed_dim` dimensions: 2b forward rows, one matmul."""

    def __init__(self, dim_x: int, dim_y: int, hidden: Sequence[int] = (256, 256), embed_dim: int = 32) -> None:
        super().__init__()
        self.g, self.h = mlp(dim_x, hidden, embed_dim), mlp(dim_y, hidden, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g(x) @ self.h(y).T


class BilinearCritic(nn.Module):
    """T(x, y) = xᵀ W y with a learned dim_x × dim_y matrix W and no bias: one matmul chain."""

    def __init__(self, dim_x: int, dim_y: int) -> None:
        super().__init__()
        self.w = nn.Linear(dim_y, dim_x, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ self.w(y).T


class InnerProductCritic(nn.Module):
    """T(x, y) = xᵀ y, no parameters (the views' representations must have the same dimension)."""

    def __init__(self, dim_x: int, dim_y: int) -> None:
        super().__init__()
        if dim_x != dim_y:
            raise ValueError(f"the inner-product critic needs equal dimensions, got dim_x={dim_x}, dim_y={dim_y}")

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ y.T


def make_critic(kind: str, dim_x: int, dim_y: int, hidden: Sequence[int], embed_dim: int) -> nn.Module:
    if kind == "joint":
        return JointCritic(dim_x, dim_y, hidden)
    if kind == "separable":
        return SeparableCritic(dim_x, dim_y, hidden, embed_dim)
    raise ValueError(f"critic must be 'joint' or 'separable', got {kind!r}")
