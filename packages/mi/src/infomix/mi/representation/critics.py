"""The critics of two-view InfoMax as `mi.critic` components: inner product, bilinear, separable, concatenated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from infomix.core.hookspecs import hookimpl
from infomix.mi.critics import BilinearCritic, InnerProductCritic, JointCritic, SeparableCritic


def inner_critic(dim_u: int, dim_v: int) -> nn.Module:
    """f(u, v) = uᵀv: no parameters; the encoders alone shape the scores."""
    return InnerProductCritic(dim_u, dim_v)


def bilinear_critic(dim_u: int, dim_v: int) -> nn.Module:
    """f(u, v) = uᵀWv, W learned, no bias."""
    return BilinearCritic(dim_u, dim_v)


def separable_critic(dim_u: int, dim_v: int, hidden: Sequence[int] = (100,), embed_dim: int = 100) -> nn.Module:
    """f(u, v) = φ1(u)ᵀφ2(v), φ1 and φ2 separate MLPs (one ReLU hidden layer of 100, output 100)."""
    return SeparableCritic(dim_u, dim_v, tuple(hidden), embed_dim)


def concat_critic(dim_u: int, dim_v: int, hidden: Sequence[int] = (200,)) -> nn.Module:
    """f(u, v) = MLP([u; v]) → scalar (one ReLU hidden layer of 200), evaluated on all K² pairs."""
    return JointCritic(dim_u, dim_v, tuple(hidden))


CRITICS = {"inner": inner_critic, "bilinear": bilinear_critic, "separable": separable_critic, "concat": concat_critic}


def make_critic(name: str, dim_u: int, dim_v: int, **params: Any) -> nn.Module:
    """The registered `mi.critic` component `name` for representations of widths dim_u and dim_v."""
    from infomix.core import get_registry

    registry = get_registry()
    if f"mi.critic:{name}" not in registry:
        known = ", ".join(c.name for c in registry.components("mi.critic"))
        raise ValueError(f"unknown critic {name!r}; registered mi.critic components: {known}")
    critic = registry.create("mi.critic", name, dim_u=dim_u, dim_v=dim_v, **params)
    if not isinstance(critic, nn.Module):
        raise TypeError(f"mi.critic:{name} returned {type(critic).__name__}, expected a torch.nn.Module")
    return critic


@hookimpl
def register_components(register: Any) -> None:
    for name, factory in CRITICS.items():
        register("mi.critic", name, factory)
