"""Variational MI bounds on a critic score matrix S[i, j] = T(x_i, y_j): diagonal joint, off-diagonal product."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _off_diagonal(scores: torch.Tensor) -> torch.Tensor:
    b = scores.shape[0]
    return scores.masked_select(~torch.eye(b, dtype=torch.bool, device=scores.device))


def log_mean_exp(values: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(values, dim=0) - math.log(values.numel())


def dv(scores: torch.Tensor) -> torch.Tensor:
    """Donsker–Varadhan: E_P[T] − log E_Q[e^T], Q's samples the b(b−1) off-diagonal pairs."""
    return scores.diagonal().mean() - log_mean_exp(_off_diagonal(scores))


def nwj(scores: torch.Tensor) -> torch.Tensor:
    """Nguyen–Wainwright–Jordan (f-divergence, TUBA with a = e): E_P[T] − E_Q[e^(T−1)]."""
    return scores.diagonal().mean() - torch.exp(log_mean_exp(_off_diagonal(scores) - 1.0))


def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018): mean_i [S_ii − log (1/b) Σ_j e^(S_ij)]; never above log b."""
    b = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(b)


def js_objective(scores: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon critic objective −E_P[softplus(−T)] − E_Q[softplus(T)]: a training signal, not an MI value.

    Its optimal critic is the log density ratio log p(x, y)/(p(x)p(y)), which NWJ of T + 1 turns into MI.
    """
    return -F.softplus(-scores.diagonal()).mean() - F.softplus(_off_diagonal(scores)).mean()


def smile(scores: torch.Tensor, tau: float = 5.0) -> torch.Tensor:
    """SMILE (Song & Ermon 2020): E_P[T] − log E_Q[clip(e^T, e^−τ, e^τ)]; τ = ∞ is DV."""
    return scores.diagonal().mean() - log_mean_exp(_off_diagonal(scores).clamp(-tau, tau))


class MovingAverage:
    """The exponential moving average of E_Q[e^T] that MINE divides by to de-bias DV's gradient."""

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value: torch.Tensor | None = None

    def mine_loss(self, scores: torch.Tensor) -> torch.Tensor:
        """−[E_P[T] − E_Q[e^T]/m̄]: its gradient is DV's with the batch mean of e^T replaced by the average m̄.

        Computed in log space: E_Q[e^T]/m̄ = exp(log_mean_exp(T) − log m̄).
        """
        lme = log_mean_exp(_off_diagonal(scores))
        current = lme.detach()
        if self.value is None:
            self.value = current
        else:  # average of e^T in log space: log(d·e^a + (1−d)·e^b)
            self.value = (
                torch.logaddexp(self.value + math.log(self.decay), current + math.log1p(-self.decay))
                if self.decay > 0
                else current
            )
        return -(scores.diagonal().mean() - torch.exp(lme - self.value))


BOUNDS = ("mine", "dv", "nwj", "infonce", "smile", "js")


def training_loss(
    bound: str, scores: torch.Tensor, average: MovingAverage | None = None, tau: float = 5.0
) -> torch.Tensor:
    """The loss each estimator minimises: the negative bound, MINE's corrected one, or the JS objective."""
    if bound == "mine":
        assert average is not None
        return average.mine_loss(scores)
    if bound in ("js", "smile"):
        return -js_objective(scores)
    return -{"dv": dv, "nwj": nwj, "infonce": infonce}[bound](scores)


def reported_value(bound: str, scores: torch.Tensor, tau: float = 5.0) -> torch.Tensor:
    """The MI value each estimator reports: DV for MINE and DV, NWJ(T + 1) for JS, clipped DV for SMILE."""
    if bound in ("mine", "dv"):
        return dv(scores)
    if bound == "js":
        return nwj(scores + 1.0)
    if bound == "smile":
        return smile(scores, tau)
    return {"nwj": nwj, "infonce": infonce}[bound](scores)
