"""Token-choice top-k softmax router with the Switch load-balancing loss and the router z-loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from infomix.core.hookspecs import hookimpl


@dataclass
class Routing:
    """Where each token goes: `weights` and `experts` are [T, k]; `probs` is the full softmax [T, E]."""

    weights: torch.Tensor
    experts: torch.Tensor
    probs: torch.Tensor
    logits: torch.Tensor
    load_balance_loss: torch.Tensor
    z_loss: torch.Tensor


def load_balance_loss(probs: torch.Tensor, experts: torch.Tensor, num_experts: int) -> torch.Tensor:
    """Switch-Transformer auxiliary loss E · Σ_e f_e · P_e.

    Convention: f_e is the fraction of the T·k token-to-expert assignments that go to expert e (for k=1
    the Switch paper's fraction of tokens), P_e the mean router probability of e. It equals 1 when both
    are uniform and E when every token goes to one expert with probability 1.
    """
    counts = torch.bincount(experts.reshape(-1), minlength=num_experts).to(probs.dtype)
    fraction = counts / experts.numel()
    return num_experts * torch.sum(fraction * probs.mean(dim=0))


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """ST-MoE router z-loss: mean over tokens of logsumexp(logits)², keeping router logits small."""
    return torch.logsumexp(logits.float(), dim=-1).square().mean()


class TopKRouter(nn.Module):
    """Token-choice top-k router: softmax over experts, keep the k largest probabilities per token.

    With ``normalize`` the k kept weights are renormalised to sum to 1 (Mixtral style); otherwise they are
    the raw softmax probabilities (GShard/Switch style). Input of any leading shape [..., dim] is flattened
    to tokens [T, dim].
    """

    def __init__(self, dim: int = 64, num_experts: int = 8, k: int = 2, normalize: bool = True) -> None:
        super().__init__()
        if num_experts < 1 or not 1 <= k <= num_experts:
            raise ValueError(f"need 1 <= k <= num_experts, got k={k}, num_experts={num_experts}")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim, self.num_experts, self.k, self.normalize = dim, num_experts, k, normalize
        self.gate = nn.Linear(dim, num_experts, bias=False)

    def forward(self, x: torch.Tensor) -> Routing:
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must have last dimension {self.dim}, got shape {tuple(x.shape)}")
        tokens = x.reshape(-1, self.dim)
        logits = self.gate(tokens)
        probs = torch.softmax(logits.float(), dim=-1)
        weights, experts = torch.topk(probs, self.k, dim=-1)
        if self.normalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return Routing(
            weights=weights.to(x.dtype),
            experts=experts,
            probs=probs,
            logits=logits,
            load_balance_loss=load_balance_loss(probs, experts, self.num_experts),
            z_loss=router_z_loss(logits),
        )


@hookimpl
def register_components(register: Any) -> None:
    register("moe.router", "topk", TopKRouter)
