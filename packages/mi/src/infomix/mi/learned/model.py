"""The permutation-invariant quantile network: per-dimension tokens, attention across dimensions and samples."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infomix.mi.learned.features import gaussian_mi_of_scores
from infomix.mi.learned.t_statistics import STATISTICS, copula_and_t_statistics
from infomix.ops import attention

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOKEN_CHUNK = 4096  # (sample, dimension) tokens per chunk of the per-row stage


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network and the bounds of the samples it was trained on (checked at inference)."""

    token_width: int = 32  # per-(sample, dimension) token
    width: int = 64  # per-sample vector
    heads: int = 4
    dim_blocks: int = 2  # attention blocks across the dimensions of each sample
    sample_blocks: int = 2  # induced attention blocks across the samples
    inducing: int = 16
    pool_seeds: int = 4
    quantiles: tuple[float, ...] = QUANTILES
    max_dim_x: int = 5
    max_dim_y: int = 5
    min_n: int = 100
    max_n: int = 5000
    t_statistics: bool = False  # the head also reads a quick t-copula fit (`t_statistics.copula_and_t_statistics`)
    width_scaling: bool = False  # quantile gaps times (s / s_ref)^γ, s a Gaussian MI estimate's error (`error_scale`)

    def to_dict(self) -> dict:
        return {**asdict(self), "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{**data, "quantiles": tuple(data["quantiles"])})


class MultiheadBlock(nn.Module):
    """Pre-norm multi-head attention of queries over keys (infomix.ops.attention), then a residual MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads})")
        self.heads, self.head_dim = heads, width // heads
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, queries: Tensor, keys: Tensor) -> Tensor:
        """queries [B, S_q, w], keys [B, S_k, w] -> [B, S_q, w]."""
        b, sq, w = queries.shape
        sk = keys.shape[1]
        if keys is queries and not torch.is_grad_enabled():
            qkv = self._self_projection(queries).view(b, sq, 3, self.heads, self.head_dim)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        else:
            q = self.q(self.norm_q(queries)).view(b, sq, self.heads, self.head_dim).transpose(1, 2)
            kv = self.kv(self.norm_kv(keys)).view(b, sk, 2, self.heads, self.head_dim)
            k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        mixed = attention(q, k, v)  # head-split views: the kernel reads short sequences through their strides
        h = queries + self.out(mixed.transpose(1, 2).reshape(b, sq, w))
        return h + self.mlp(self.norm_mlp(h))

    def _self_projection(self, x: Tensor) -> Tensor:
        """[q | k | v] of self-attention at inference: both LayerNorms' affine maps folded into one projection.

        norm(x) = γ ⊙ n + β with n the plain normalisation of x, so W·norm(x) + b = (W diag γ)·n + (W β + b): one
        normalisation and one matrix product instead of two of each (equal up to rounding).
        """
        n = F.layer_norm(x, (x.shape[-1],), eps=self.norm_q.eps)
        weight = torch.cat([self.q.weight * self.norm_q.weight, self.kv.weight * self.norm_kv.weight])
        bias = torch.cat(
            [self.q.weight @ self.norm_q.bias + self.q.bias, self.kv.weight @ self.norm_kv.bias + self.kv.bias]
        )
        return F.linear(n, weight, bias)


class InducedBlock(nn.Module):
    """Set attention through m learned inducing points (ISAB): linear in the number of samples."""

    def __init__(self, width: int, heads: int, inducing: int) -> None:
        super().__init__()
        self.points = nn.Parameter(torch.randn(1, inducing, width) / math.sqrt(width))
        self.gather = MultiheadBlock(width, heads)
        self.scatter = MultiheadBlock(width, heads)

    def forward(self, rows: Tensor) -> Tensor:
        summary = self.gather(self.points.expand(rows.shape[0], -1, -1), rows)
        return self.scatter(rows, summary)


class QuantileMINetwork(nn.Module):
    """Maps a rank-normalised sample (z_x [B, n, d_x], z_y [B, n, d_y]) to MI quantiles [B, len(quantiles)].

    1. Every value z_ij becomes a token: an MLP of the value plus an embedding saying x or y.
    2. Attention across the d_x + d_y tokens of each sample (no positional code, so invariant to the order
       of the x columns and of the y columns); the x tokens and the y tokens are mean-pooled and projected
       to one vector per sample.
    3. Induced attention across the n samples (no positional code: permutation-equivariant), then pooling
       by attention from learned seeds (permutation-invariant).
    4. A head reads the pooled vector with the sample's Gaussian-copula MI, log n, d_x and d_y, and returns
       the median as copula MI + a learned correction, the other quantiles as the median ∓ cumulative
       softplus gaps, so they are increasing by construction.

    Options (`ModelConfig`): `t_statistics` adds a quick t-copula fit to the head's inputs (I_t − I_copula and
    1/dof, `t_statistics.copula_and_t_statistics`) and moves the median's base to copula MI + g·(I_t − I_copula),
    g learned; `width_scaling` multiplies the gaps by (s / s_ref)^γ, γ learned, s = `error_scale` of the base
    at this n, so the intervals can narrow like a real estimate's sampling error. Both start as no-ops (zero
    weights, g = γ = 0), so a network can be fine-tuned into them.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ModelConfig()
        mid = c.quantiles.index(0.5) if 0.5 in c.quantiles else None
        if mid is None or list(c.quantiles) != sorted(c.quantiles):
            raise ValueError(f"quantiles must be increasing and contain 0.5, got {c.quantiles}")
        self.median_index = mid
        self.value_embed = nn.Sequential(
            nn.Linear(1, c.token_width), nn.GELU(), nn.Linear(c.token_width, c.token_width)
        )
        self.side_embed = nn.Parameter(torch.randn(2, c.token_width) / math.sqrt(c.token_width))
        self.dim_blocks = nn.ModuleList(MultiheadBlock(c.token_width, c.heads) for _ in range(c.dim_blocks))
        self.to_row = nn.Sequential(nn.LayerNorm(2 * c.token_width), nn.Linear(2 * c.token_width, c.width))
        self.sample_blocks = nn.ModuleList(InducedBlock(c.width, c.heads, c.inducing) for _ in range(c.sample_blocks))
        self.seeds = nn.Parameter(torch.randn(1, c.pool_seeds, c.width) / math.sqrt(c.width))
        self.pool = MultiheadBlock(c.width, c.heads)
        self.head = nn.Sequential(
            nn.LayerNorm(c.pool_seeds * c.width + 4),
            nn.Linear(c.pool_seeds * c.width + 4, 2 * c.width),
            nn.GELU(),
            nn.Linear(2 * c.width, c.width),
            nn.GELU(),
            nn.Linear(c.width, len(c.quantiles)),
        )
        if c.t_statistics:
            # both start at zero, so a network fine-tuned from one without them starts as that network
            self.t_input = nn.Linear(STATISTICS, 2 * c.width, bias=False)
            nn.init.zeros_(self.t_input.weight)
            self.t_gate = nn.Parameter(torch.zeros(()))
        if c.width_scaling:
            self.width_exponent = nn.Parameter(torch.zeros(()))  # γ = 0: the gaps as without the scaling
        self.statistics = 1 + STATISTICS * c.t_statistics

    def forward(self, zx: Tensor, zy: Tensor, stats: Tensor) -> Tensor:
        """stats: `head_inputs` of the sample, [B, self.statistics] ([B] accepted for the copula MI alone)."""
        b, n, dx = zx.shape
        dy = zy.shape[2]
        stats = stats[:, None] if stats.dim() == 1 else stats
        if stats.shape != (b, self.statistics):
            raise ValueError(f"stats must be [B, {self.statistics}] = {(b, self.statistics)}, got {tuple(stats.shape)}")
        copula_mi = stats[:, 0]
        values = torch.cat([zx, zy], dim=2).reshape(b * n, dx + dy, 1)
        # rows are independent until the attention across samples: a chunk of ~TOKEN_CHUNK tokens at a time keeps
        # every intermediate near 1 MB, reused from the allocator's free lists instead of freshly mapped pages
        # (5v5, n = 500: 23 -> 19 ms on 2 cores; 1v1 unchanged: its rows fit in one chunk)
        side = torch.cat([self.side_embed[0].expand(dx, -1), self.side_embed[1].expand(dy, -1)], dim=0)
        step = max(1, TOKEN_CHUNK // (dx + dy))
        chunks = [self._row_vectors(values[s : s + step], side, dx) for s in range(0, b * n, step)]
        rows = torch.cat(chunks).view(b, n, -1)
        for block in self.sample_blocks:
            rows = block(rows)
        summary = self.pool(self.seeds.expand(b, -1, -1), rows).reshape(b, -1)
        scalars = torch.stack(
            [
                copula_mi,
                torch.full_like(copula_mi, math.log(n) / math.log(1000.0)),
                torch.full_like(copula_mi, dx / 5.0),
                torch.full_like(copula_mi, dy / 5.0),
            ],
            dim=1,
        )
        features = torch.cat([summary, scalars], dim=1)
        if not self.config.t_statistics:
            return self._monotone(self.head(features), copula_mi, n)
        hidden = self.head[1](self.head[0](features)) + self.t_input(stats[:, 1:])
        raw = self.head[2:](hidden)
        return self._monotone(raw, copula_mi + self.t_gate * stats[:, 1], n)

    def _row_vectors(self, values: Tensor, side: Tensor, dx: int) -> Tensor:
        """Steps 1-2 for rows [r, d_x + d_y, 1] of values (side: the x/y embeddings [d_x + d_y, token_width])."""
        tokens = self.value_embed(values) + side
        for block in self.dim_blocks:
            tokens = block(tokens, tokens)
        pooled = torch.cat([tokens[:, :dx].mean(dim=1), tokens[:, dx:].mean(dim=1)], dim=1)
        return self.to_row(pooled)

    def _monotone(self, raw: Tensor, base: Tensor, n: int) -> Tensor:
        m = self.median_index
        median = base + raw[:, m]
        gaps = F.softplus(raw) + 1e-4
        if self.config.width_scaling:
            # sampling error shrinks like √((0.1 + I)/n): scaled gaps let one head output serve every n and MI
            relative = error_scale(base.detach().clamp_min(0.0), n) / error_scale(torch.tensor(0.5), 1000)
            gaps = gaps * relative[:, None] ** self.width_exponent
        below = median[:, None] - torch.flip(torch.cumsum(torch.flip(gaps[:, :m], [1]), dim=1), [1])
        above = median[:, None] + torch.cumsum(gaps[:, m + 1 :], dim=1)
        return torch.cat([below, median[:, None], above], dim=1)


def head_inputs(config: ModelConfig, zx: Tensor, zy: Tensor) -> Tensor:
    """The per-sample statistics the head reads, [B, 1 + 2·t_statistics]: the Gaussian-copula MI of the normal
    scores, then (with `config.t_statistics`) the t-copula MI minus it and 1/dof of a quick t-copula fit
    (`t_statistics.copula_and_t_statistics`, whose copula MI is the same up to ~1e-7)."""
    if config.t_statistics:
        return copula_and_t_statistics(zx, zy)
    return gaussian_mi_of_scores(zx, zy)[:, None]


def predict_quantiles(network: QuantileMINetwork, zx: Tensor, zy: Tensor, stats: Tensor, sign_average: bool) -> Tensor:
    """The network's quantiles [B, levels]; with sign_average, the mean of its quantiles for (x, y) and (x, −y).

    Negating y keeps MI (a decreasing map of each coordinate) and negates y's normal scores, so the averaged
    quantiles are exactly invariant to it, still increasing, and, on a meta-distribution that is itself
    invariant to sign flips, no worse in pinball loss (it is convex). One forward pass of a doubled batch.
    `stats` (`head_inputs`) are those of (x, y); every one of them is unchanged by negating y.
    """
    if zx.dim() != 3 or zy.dim() != 3 or zx.shape[:2] != zy.shape[:2] or stats.shape[0] != zx.shape[0]:
        raise ValueError(
            f"zx [B, n, d_x], zy [B, n, d_y] and stats [B, ...] must agree in B and n, got {tuple(zx.shape)}, "
            f"{tuple(zy.shape)} and {tuple(stats.shape)}"
        )
    if not sign_average:
        return network(zx, zy, stats)
    out = network(torch.cat([zx, zx]), torch.cat([zy, -zy]), torch.cat([stats, stats]))
    return 0.5 * (out[: zx.shape[0]] + out[zx.shape[0] :])


def pinball_loss(predicted: Tensor, target: Tensor, quantiles: Tensor, weights: Tensor | None = None) -> Tensor:
    """Mean over examples and levels of ρ_τ(u) = max(τu, (τ − 1)u), u = target − predicted quantile.

    `weights` [B] (positive) weight each example's terms; the mean is then Σ w·ρ / (Σ w · levels).
    """
    u = target[:, None] - predicted
    loss = torch.maximum(quantiles * u, (quantiles - 1.0) * u)
    if weights is None:
        return loss.mean()
    if weights.shape != target.shape:
        raise ValueError(f"weights must have the targets' shape {tuple(target.shape)}, got {tuple(weights.shape)}")
    return (weights[:, None] * loss).sum() / (weights.sum() * loss.shape[1])


def error_scale(mi: Tensor, n: int) -> Tensor:
    """s = √((0.1 + I) / n) + 0.003 nats: how the sampling error of a Gaussian MI estimate of about I grows."""
    if n < 1:
        raise ValueError(f"n (rows per sample) must be >= 1, got {n}")
    return torch.sqrt((0.1 + mi.double()) / n).to(mi.dtype) + 0.003


def error_scale_weights(copula_mi: Tensor, n: int) -> Tensor:
    """Per-example weights 1 / s, s = √((0.1 + Î_copula) / n) + 0.003 nats: the sampling error of a Gaussian MI
    estimate grows like this (its variance is ~Σρ²/n), so weighting by 1 / s gives each sample a comparable
    share of the loss instead of letting small, high-MI samples (errors ~0.3 nats) drown large, low-MI ones
    (~0.01). The weights depend on the inputs only, so the loss's minimiser is still each conditional quantile.
    """
    return 1.0 / error_scale(copula_mi, n)
