"""Neural variational MI estimators (MINE, DV, NWJ, InfoNCE, SMILE, JS) trained with held-out early stopping."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from infomix.core.hookspecs import hookimpl
from infomix.mi.copula import copula_normalize
from infomix.mi.estimate import Estimate
from infomix.mi.samples import paired, require_varying, standardized


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("the neural MI estimators need torch: pip install torch") from None
    return torch


class VariationalEstimator:
    """A critic T(x, y) trained to maximise a variational lower bound on MI; base of the named estimators.

    Each coordinate is mapped to normal scores through its ranks (``margins="copula"``, default: MI is
    unchanged by increasing maps, and heavy tails no longer blow up e^T) or standardised
    (``margins="standardize"``); then the sample is split: ``valid_fraction`` of the rows are held out. Adam
    (learning rate ``lr``) trains on random batches of ``batch_size`` rows, scoring all b² pairs (the
    off-diagonal pairs stand in for the product of marginals). Every ``eval_every`` steps the bound is
    evaluated on the held-out rows; training stops after ``patience`` evaluations without improvement
    or at ``max_steps``, and the best critic is kept. The value is that critic's bound on the held-out
    rows, averaged over held-out batches; the interval is mean ± z·SE over those batches, so it
    reflects evaluation noise given the trained critic, not training variability. ``critic`` is
    ``"separable"`` (g(x)·h(y), default: 2b rows a step) or ``"joint"`` (MLP on [x, y], b² rows a step, far
    slower on a CPU); ``progress`` shows a bar (default:
    when stderr is a terminal).
    """

    bound = "dv"

    def __init__(
        self,
        critic: str = "separable",
        hidden: tuple[int, ...] = (128, 128),
        embed_dim: int = 32,
        batch_size: int = 128,
        lr: float = 1e-3,
        max_steps: int = 3000,
        eval_every: int = 100,
        patience: int = 10,
        valid_fraction: float = 0.3,
        ema_decay: float = 0.9,
        tau: float = 5.0,
        confidence: float = 0.9,
        seed: int = 0,
        device: str = "cpu",
        progress: bool | None = None,
        margins: str = "copula",
    ) -> None:
        if critic not in ("joint", "separable"):
            raise ValueError(f"critic must be 'joint' or 'separable', got {critic!r}")
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {batch_size}")
        if lr <= 0 or max_steps < 1 or eval_every < 1 or patience < 1:
            raise ValueError("lr must be > 0 and max_steps, eval_every, patience >= 1")
        if not 0.0 < valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if margins not in ("copula", "standardize"):
            raise ValueError(f"margins must be 'copula' or 'standardize', got {margins!r}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.critic, self.hidden, self.embed_dim = critic, tuple(hidden), embed_dim
        self.batch_size, self.lr, self.max_steps = batch_size, lr, max_steps
        self.eval_every, self.patience, self.valid_fraction = eval_every, patience, valid_fraction
        self.ema_decay, self.tau, self.confidence = ema_decay, tau, confidence
        self.seed, self.device, self.progress, self.margins = seed, device, progress, margins

    def _held_out(self, torch: Any, net: Any, xv: Any, yv: Any, gen: Any) -> tuple[float, float, int]:
        from infomix.mi.bounds import reported_value

        order = torch.randperm(xv.shape[0], generator=gen)
        values = []
        with torch.no_grad():
            for start in range(0, xv.shape[0] - self.batch_size + 1, self.batch_size):
                rows = order[start : start + self.batch_size].to(xv.device)
                values.append(float(reported_value(self.bound, net(xv[rows], yv[rows]), self.tau)))
        vals = np.asarray(values)
        return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else math.nan, vals.size

    def estimate(self, x: Any, y: Any) -> Estimate:
        torch = _torch()
        from scipy.special import ndtri

        from infomix.mi.bounds import MovingAverage, training_loss
        from infomix.mi.critics import make_critic

        xm, ym = paired(x, y)
        require_varying(xm, "x")
        require_varying(ym, "y")
        n = xm.shape[0]
        n_valid = round(n * self.valid_fraction)
        if n - n_valid < self.batch_size or n_valid < self.batch_size:
            raise ValueError(
                f"n={n} is too small for batch_size={self.batch_size} with valid_fraction={self.valid_fraction}: "
                f"both splits need at least one batch"
            )
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        prepare = copula_normalize if self.margins == "copula" else standardized
        z = np.concatenate([prepare(xm), prepare(ym)], axis=1)
        z = torch.as_tensor(z[np.random.default_rng(self.seed).permutation(n)], dtype=torch.float32, device=self.device)
        dx = xm.shape[1]
        xt, yt, xv, yv = z[n_valid:, :dx], z[n_valid:, dx:], z[:n_valid, :dx], z[:n_valid, dx:]
        net = make_critic(self.critic, dx, ym.shape[1], self.hidden, self.embed_dim).to(self.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        average = MovingAverage(self.ema_decay) if self.bound == "mine" else None
        best, best_state, stale, step = -math.inf, None, 0, 0
        show = sys.stderr.isatty() if self.progress is None else self.progress
        bar = _progress(show, self.max_steps, type(self).__name__)
        try:
            for step in range(1, self.max_steps + 1):
                rows = torch.randint(0, xt.shape[0], (self.batch_size,), generator=gen).to(self.device)
                loss = training_loss(self.bound, net(xt[rows], yt[rows]), average, self.tau)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training diverged at step {step} (loss {float(loss)}); lower lr")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if step % self.eval_every == 0 or step == self.max_steps:
                    value = self._held_out(torch, net, xv, yv, gen)[0]
                    if value > best:
                        best, stale = value, 0
                        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    else:
                        stale += 1
                    bar.update(step, value)
                    if stale >= self.patience:
                        break
        finally:
            bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        value, sd, batches = self._held_out(torch, net, xv, yv, torch.Generator().manual_seed(self.seed + 1))
        lower = upper = None
        if batches > 1:
            half = float(ndtri(0.5 + self.confidence / 2)) * sd / math.sqrt(batches)
            lower, upper = value - half, value + half
        info = {
            "n": n,
            "bound": self.bound,
            "critic": self.critic,
            "steps": step,
            "held_out": n_valid,
            "interval": "held-out batch standard error" if lower is not None else None,
            "confidence": self.confidence if lower is not None else None,
        }
        if self.bound == "infonce":
            info["ceiling"] = math.log(self.batch_size)
        return Estimate(value, lower, upper, info)


class _Bar:
    def __init__(self, show: bool, total: int, label: str) -> None:
        self.progress = None
        if show:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)

    def update(self, step: int, value: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, description=f"held-out MI {value:.3f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _progress(show: bool, total: int, label: str) -> _Bar:
    return _Bar(show, total, label)


class MINEEstimator(VariationalEstimator):
    """MINE (Belghazi et al. 2018): the DV bound, its gradient de-biased by a moving average of E_Q e^T.

    The average of E_Q[e^T] over batches decays by ``ema_decay`` a step.
    """

    bound = "mine"


class DVEstimator(VariationalEstimator):
    """Donsker–Varadhan bound E_P T − log E_Q e^T with the plain (biased) minibatch gradient."""

    bound = "dv"


class NWJEstimator(VariationalEstimator):
    """NWJ bound E_P T − E_Q e^(T−1) (Nguyen, Wainwright & Jordan 2010): unbiased, high variance at high MI."""

    bound = "nwj"


class InfoNCEEstimator(VariationalEstimator):
    """InfoNCE / CPC bound (van den Oord et al. 2018): low variance, but never above log(batch_size)."""

    bound = "infonce"


class SMILEEstimator(VariationalEstimator):
    """SMILE (Song & Ermon 2020): critic trained with the JS objective, MI reported as DV with e^T clipped.

    The clipping range is [e^−τ, e^τ]; τ = ∞ recovers DV.
    """

    bound = "smile"


class JSEstimator(VariationalEstimator):
    """Critic trained with the Jensen–Shannon objective (Poole et al. 2019), MI reported as NWJ of T + 1."""

    bound = "js"


@hookimpl
def register_components(register: Any) -> None:
    for name, cls in [
        ("mine", MINEEstimator),
        ("dv", DVEstimator),
        ("nwj", NWJEstimator),
        ("infonce", InfoNCEEstimator),
        ("smile", SMILEEstimator),
        ("js", JSEstimator),
    ]:
        register("mi.estimator", name, cls)
