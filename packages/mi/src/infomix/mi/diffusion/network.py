"""A small MLP denoiser with EDM preconditioning (Karras et al. 2022), optionally conditioned, and its training."""

from __future__ import annotations

import copy
import math
import sys
from typing import Any

import torch
from torch import nn

from infomix.mi.diffusion.schedules import NoiseSchedule, make_schedule


class EDMDenoiserNet(nn.Module):
    """D(x; σ, y) = c_skip·x + c_out·F(c_in·x, c_noise, y) with c_skip = σ_d²/(σ² + σ_d²), c_out = σσ_d/√(σ² + σ_d²),
    c_in = 1/√(σ² + σ_d²), c_noise = ¼ log σ; F an MLP (SiLU) on [c_in·x, Fourier features of c_noise, y, mask].

    With `cond_dim` > 0 the network also takes a condition y [n, cond_dim] and a 0/1 mask; a missing y
    (cond=None) is the unconditional denoiser (mask 0), as in classifier-free guidance.
    """

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, cond_dim: int = 0, sigma_data: float = 1.0,
                 n_frequencies: int = 8) -> None:  # fmt: skip
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1 or cond_dim < 0:
            raise ValueError(
                f"need dim, hidden, depth >= 1 and cond_dim >= 0, got {dim}, {hidden}, {depth}, {cond_dim}"
            )
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        self.dim, self.cond_dim, self.sigma_data = dim, cond_dim, float(sigma_data)
        self.register_buffer("frequencies", 2.0 ** torch.arange(n_frequencies, dtype=torch.float32) * math.pi / 4)
        width = dim + 1 + 2 * n_frequencies + (cond_dim + 1 if cond_dim else 0)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """D(x; σ, y); `mask` [n, 1] of 0/1 hides the condition of rows with 0 (default: all rows see it)."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape [n, {self.dim}], got {tuple(x.shape)}")
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / (sigma**2 + sd2).sqrt()
        c_in = 1 / (sigma**2 + sd2).sqrt()
        c_noise = sigma.log() / 4
        angles = c_noise * self.frequencies.to(x.dtype)
        parts = [c_in * x, c_noise, angles.sin(), angles.cos()]
        if self.cond_dim:
            if cond is None:
                parts += [torch.zeros(x.shape[0], self.cond_dim + 1, dtype=x.dtype, device=x.device)]
            else:
                if cond.shape != (x.shape[0], self.cond_dim):
                    raise ValueError(f"cond must have shape [{x.shape[0]}, {self.cond_dim}], got {tuple(cond.shape)}")
                m = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device) if mask is None else mask.to(x.dtype)
                parts += [cond.to(x.dtype) * m, m]
        elif cond is not None:
            raise ValueError("cond was given to a network built with cond_dim=0")
        return c_skip * x + c_out * self.mlp(torch.cat(parts, dim=1))


class NetworkDenoiser:
    """A trained EDMDenoiserNet as a Denoiser of any schedule: x̂0(x, t) = D(x/α_t; κ_t), κ = σ/α.

    The network runs in its own dtype (use `float64=True` for a float64 copy, needed by the tight-tolerance
    reference solve); the output comes back in x's dtype.
    """

    def __init__(self, net: EDMDenoiserNet, schedule: str | NoiseSchedule = "edm", float64: bool = False) -> None:
        self.net = (copy.deepcopy(net).double() if float64 else net).eval()
        self.schedule = make_schedule(schedule)
        self.dtype = next(self.net.parameters()).dtype

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        alpha, kappa = self.schedule.alpha(t), self.schedule.kappa(t)
        flat = x.reshape(x.shape[0], -1).to(self.dtype) / alpha
        with torch.no_grad():
            return self.net(flat, kappa).reshape(x.shape).to(x.dtype)


def edm_loss(net: EDMDenoiserNet, x0: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor | None = None,
             noise: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """EDM's weighted denoising loss: mean of (σ² + σ_d²)/(σσ_d)²·‖D(x0 + σε; σ) − x0‖² per coordinate."""
    noise = torch.randn_like(x0) if noise is None else noise
    weight = (sigma**2 + net.sigma_data**2) / (sigma * net.sigma_data) ** 2
    err = net(x0 + sigma[:, None] * noise, sigma, cond, mask) - x0
    return (weight[:, None] * err.square()).mean()


def train_denoiser(
    data: Any,
    cond: Any = None,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 2e-3,
    hidden: int = 256,
    depth: int = 3,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    cond_drop: float = 0.5,
    ema_decay: float = 0.999,
    seed: int = 0,
    progress: bool | None = None,
) -> EDMDenoiserNet:
    """Train an EDMDenoiserNet on `data` [n, d] (float32), σ ~ exp(N(p_mean, p_std²)), Adam with cosine decay.

    With `cond` [n, d_y] the network learns the conditional denoiser and, on a `cond_drop` fraction of each
    batch with the condition masked out, the unconditional one. Returns the EMA of the weights (decay
    `ema_decay`). `progress` shows a bar with the running loss (default: when stderr is a terminal).
    """
    x = torch.as_tensor(data, dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"data must have shape [n, d] with n >= 2, got {tuple(x.shape)}")
    y = None if cond is None else torch.as_tensor(cond, dtype=torch.float32)
    if y is not None and (y.ndim != 2 or y.shape[0] != x.shape[0]):
        raise ValueError(f"cond must have shape [{x.shape[0]}, d_y], got {tuple(y.shape)}")
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0, got {steps}, {batch_size}, {lr}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sigma_data = float(x.std())
    net = EDMDenoiserNet(x.shape[1], hidden, depth, 0 if y is None else y.shape[1], sigma_data)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    bar = _Bar(sys.stderr.isatty() if progress is None else progress, steps)
    running = None
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        sigma = torch.exp(p_mean + p_std * torch.randn(batch_size, generator=gen))
        noise = torch.randn(batch_size, x.shape[1], generator=gen)
        if y is not None:
            keep = (torch.rand(batch_size, 1, generator=gen) >= cond_drop).float()
            loss = edm_loss(net, x[idx], sigma, y[idx], noise, keep)
        else:
            loss = edm_loss(net, x[idx], sigma, None, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                pe.lerp_(p, 1 - decay)
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(step + 1, running)
    bar.close()
    return ema.eval()


class _Bar:
    """A transient rich progress bar showing the running loss, or nothing."""

    def __init__(self, show: bool, total: int) -> None:
        self.progress = None
        if show:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task("training denoiser", total=total)

    def update(self, step: int, loss: float) -> None:
        if self.progress is not None and (step % 50 == 0 or step == self.progress.tasks[0].total):
            self.progress.update(self.task, completed=step, description=f"training denoiser, loss {loss:.4f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
