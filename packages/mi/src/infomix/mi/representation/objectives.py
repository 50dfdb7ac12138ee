"""Training objectives on a K×K score matrix: the I_NCE and I_NWJ bounds (infomix.mi.bounds) and a triplet hinge."""

from __future__ import annotations

import torch

from infomix.mi.bounds import infonce, nwj

BOUNDS = {"nce": infonce, "nwj": nwj}
OBJECTIVES = (*BOUNDS, "triplet")


def check_scores(scores: torch.Tensor) -> None:
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise ValueError(f"scores must be a square K×K matrix with K >= 2, got shape {tuple(scores.shape)}")


def bound(name: str, scores: torch.Tensor) -> torch.Tensor:
    """The MI lower bound `name` ("nce" or "nwj") of scores S[i, j] = f(u_i, v_j), positives on the diagonal."""
    if name not in BOUNDS:
        raise ValueError(f"unknown bound {name!r}; choose one of {', '.join(BOUNDS)}")
    check_scores(scores)
    return BOUNDS[name](scores)


def triplet_loss(scores: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """(1/K) Σ_i (1/K) Σ_{j≠i} max(0, margin − S_ii + S_ij): a metric-learning hinge, not an MI bound."""
    check_scores(scores)
    k = scores.shape[0]
    hinge = torch.relu(margin - scores.diagonal()[:, None] + scores)
    return hinge.masked_fill(torch.eye(k, dtype=torch.bool, device=scores.device), 0.0).sum() / (k * k)


def objective_loss(name: str, scores: torch.Tensor, target: float | None = None) -> torch.Tensor:
    """The loss to minimise: −bound, or |bound − target| to hold the bound at a value, or the triplet hinge."""
    if name == "triplet":
        if target is not None:
            raise ValueError("target applies to the bounds (nce, nwj), not to the triplet loss")
        return triplet_loss(scores)
    value = bound(name, scores)
    return -value if target is None else (value - target).abs()
