"""Encoders g(x) for one view: MLP, small ConvNet, residual MLP with input noise, additive-coupling flow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from infomix.mi.critics import mlp


def _flat_dim(in_shape: Sequence[int]) -> int:
    if not in_shape or any(int(s) < 1 for s in in_shape):
        raise ValueError(f"in_shape must be a non-empty tuple of positive sizes, got {tuple(in_shape)}")
    return math.prod(int(s) for s in in_shape)


def _small_init(module: nn.Module, std: float) -> None:
    """Truncated-normal weights of standard deviation `std` and zero biases: the block starts near zero."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(m.bias)


class IdentityEncoder(nn.Module):
    """g(x) = x, flattened: the critic sees the raw view."""

    def __init__(self, in_shape: Sequence[int]) -> None:
        super().__init__()
        self.out_dim = _flat_dim(in_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class MLPEncoder(nn.Module):
    """Flatten, then an MLP with ReLU hidden layers and a linear output layer (default [300, 300] → 100)."""

    def __init__(self, in_shape: Sequence[int], hidden: Sequence[int] = (300, 300), out_dim: int = 100) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = mlp(_flat_dim(in_shape), hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class ConvEncoder(nn.Module):
    """Two 5×5 stride-2 convolutions with ReLU, LayerNorm over (C, H, W), global average pool, linear head.

    The paper's widths are (64, 128); ``channels`` trades them for speed. Input [N, C, H, W].
    """

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int] = (64, 128), out_dim: int = 100) -> None:
        super().__init__()
        if len(in_shape) != 3:
            raise ValueError(f"the ConvNet encoder needs images [C, H, W], got in_shape {tuple(in_shape)}")
        if len(channels) != 2:
            raise ValueError(f"channels must give two widths, got {tuple(channels)}")
        c, h, w = (int(s) for s in in_shape)
        c1, c2 = (int(s) for s in channels)
        self.convs = nn.Sequential(
            nn.Conv2d(c, c1, 5, stride=2, padding=2), nn.ReLU(), nn.Conv2d(c1, c2, 5, stride=2, padding=2), nn.ReLU()
        )
        with torch.no_grad():
            shape = self.convs(torch.zeros(1, c, h, w)).shape[1:]
        self.norm = nn.LayerNorm(list(shape))
        self.head = nn.Linear(c2, out_dim)
        self.in_shape, self.out_dim = (c, h, w), out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.view(x.shape[0], *self.in_shape)
        return self.head(self.norm(self.convs(x)).mean(dim=(2, 3)))


class ResidualMLPEncoder(nn.Module):
    """x ← x + noise·ε, then `layers` residual blocks x ← x + ReLU(W x + b) at the input's width.

    The noise (std ``noise``, default 0.05) is added in training and evaluation alike; with weights
    initialised at std ``init_std`` (1e-4) the encoder starts as the identity plus noise and could stay
    invertible, so any gain of the probe over the pixels comes from the map the training chose.
    """

    def __init__(self, in_shape: Sequence[int], layers: int = 5, noise: float = 0.05, init_std: float = 1e-4) -> None:
        super().__init__()
        if layers < 1 or noise < 0 or init_std <= 0:
            raise ValueError(f"need layers >= 1, noise >= 0, init_std > 0; got {layers}, {noise}, {init_std}")
        d = _flat_dim(in_shape)
        self.blocks = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        _small_init(self, init_std)
        self.noise, self.out_dim = noise, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.noise > 0:
            x = x + self.noise * torch.randn_like(x)
        for block in self.blocks:
            x = x + torch.relu(block(x))
        return x


class AdditiveCouplingFlow(nn.Module):
    """A volume-preserving bijection of R^d: `couplings` additive couplings, each after a fixed permutation.

    Coupling: split x into (a, b) at d//2 and set b ← b + t(a), t an MLP (ReLU, ``hidden``) initialised at std
    ``init_std`` with zero biases, so the flow starts near a permutation. The inverse subtracts t(a) in reverse
    order; the Jacobian determinant is ±1 (log |det| = 0) for every input.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        couplings: int = 8,
        hidden: Sequence[int] = (256,),
        init_std: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        d = _flat_dim(in_shape)
        if d < 2 or couplings < 1 or init_std <= 0:
            raise ValueError(f"need dimension >= 2, couplings >= 1, init_std > 0; got {d}, {couplings}, {init_std}")
        self.split = d // 2
        self.shifts = nn.ModuleList(mlp(self.split, hidden, d - self.split) for _ in range(couplings))
        _small_init(self.shifts, init_std)
        gen = torch.Generator().manual_seed(seed)
        perms = torch.stack([torch.randperm(d, generator=gen) for _ in range(couplings)])
        self.register_buffer("perms", perms)
        self.register_buffer("inverse_perms", torch.argsort(perms, dim=1))
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for perm, shift in zip(self.perms, self.shifts, strict=True):
            x = x[:, perm]
            a, b = x[:, : self.split], x[:, self.split :]
            x = torch.cat([a, b + shift(a)], dim=1)
        return x

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """g⁻¹(z), flattened: undo the couplings and permutations in reverse order."""
        z = z.flatten(1)
        for inv, shift in zip(reversed(self.inverse_perms), reversed(self.shifts), strict=True):
            a, b = z[:, : self.split], z[:, self.split :]
            z = torch.cat([a, b - shift(a)], dim=1)[:, inv]
        return z

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """log |det ∂g/∂x| per example: exactly 0, the flow preserves volume."""
        return x.new_zeros(x.shape[0])


ENCODERS: dict[str, type[nn.Module]] = {
    "identity": IdentityEncoder,
    "mlp": MLPEncoder,
    "conv": ConvEncoder,
    "resmlp": ResidualMLPEncoder,
    "flow": AdditiveCouplingFlow,
}


def make_encoder(name: str, in_shape: Sequence[int], **params: Any) -> nn.Module:
    """Build encoder `name` for one view of shape `in_shape`; the module's `out_dim` is its output width."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name](tuple(in_shape), **params)
