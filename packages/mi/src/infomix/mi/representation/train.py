"""Train two encoders and a critic on pairs of views; log the bound and the linear-probe accuracy over training."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn

from infomix.mi.representation.critics import make_critic
from infomix.mi.representation.encoders import make_encoder
from infomix.mi.representation.objectives import BOUNDS, OBJECTIVES, bound, objective_loss
from infomix.mi.representation.probe import encode, linear_probe
from infomix.mi.representation.views import PairedViews


class ViewSource(Protocol):
    """Anything that draws batches of paired views: PairedViews (rows of a data set) or GaussianViews."""

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]: ...

    def sample(self, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class InfoMaxConfig:
    """One InfoMax run: encoders (one per view, no shared weights), critic, objective, optimiser, evaluation.

    ``objective`` is "nce", "nwj" (maximise the bound) or "triplet"; with ``target`` set the loss is
    |bound − target| instead (hold the bound at a value). ``report_bound`` is the bound logged (default: the
    objective's, or "nce" for the triplet loss). Every ``eval_every`` steps (and at step 0) the bound is
    measured on ``eval_batches`` test batches and, when the views carry labels, a linear probe is fitted on
    g1 of the first ``probe_train`` training examples and scored on the first ``probe_test`` test examples.
    """

    encoder: str = "mlp"
    encoder_params: dict[str, Any] = field(default_factory=dict)
    critic: str = "bilinear"
    critic_params: dict[str, Any] = field(default_factory=dict)
    objective: str = "nce"
    target: float | None = None
    report_bound: str | None = None
    batch_size: int = 128
    lr: float = 1e-4
    steps: int = 3000
    eval_every: int = 500
    eval_batches: int = 20
    probe_train: int | None = 10_000
    probe_test: int | None = 10_000
    probe_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.report_bound is not None and self.report_bound not in BOUNDS:
            raise ValueError(f"report_bound must be one of {', '.join(BOUNDS)}, got {self.report_bound!r}")
        if self.target is not None and self.objective == "triplet":
            raise ValueError("target applies to the bounds (nce, nwj), not to the triplet loss")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.steps < 0 or self.eval_every < 1 or self.eval_batches < 1:
            raise ValueError("steps must be >= 0 and eval_every, eval_batches >= 1")

    @property
    def logged_bound(self) -> str:
        return self.report_bound or (self.objective if self.objective in BOUNDS else "nce")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InfoMaxHistory:
    """What a run measured at each evaluation step (bounds in nats, accuracies in [0, 1])."""

    config: dict[str, Any]
    data: str
    bound: str
    step: list[int] = field(default_factory=list)
    train_bound: list[float] = field(default_factory=list)
    test_bound: list[float] = field(default_factory=list)
    probe_accuracy: list[float | None] = field(default_factory=list)
    reconstruction_error: list[float | None] = field(default_factory=list)
    pixel_accuracy: float | None = None
    true_mi: float | None = None
    log_k: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        """One row per evaluation step (for a CSV)."""
        return [
            {
                "step": s,
                "train_bound": tb,
                "test_bound": vb,
                "probe_accuracy": acc,
                "reconstruction_error": rec,
            }
            for s, tb, vb, acc, rec in zip(
                self.step,
                self.train_bound,
                self.test_bound,
                self.probe_accuracy,
                self.reconstruction_error,
                strict=True,
            )
        ]


class Trained(NamedTuple):
    g1: nn.Module
    g2: nn.Module
    critic: nn.Module


def _test_batches(test: ViewSource, config: InfoMaxConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(test, PairedViews):
        batches = list(test.batches(config.batch_size, limit=config.eval_batches))
        if not batches:
            raise ValueError(f"the test views have {len(test)} rows, fewer than one batch of {config.batch_size}")
        return batches
    gen = torch.Generator().manual_seed(config.seed + 10_007)
    return [test.sample(config.batch_size, gen) for _ in range(config.eval_batches)]


def _probe_rows(views: ViewSource, limit: int | None) -> PairedViews | None:
    if not isinstance(views, PairedViews) or views.labels is None or limit == 0:
        return None
    return views if limit is None else views.subset(slice(0, min(limit, len(views))))


class _Bar:
    """A rich progress bar over training steps (shown when `show`), described by the latest evaluation."""

    def __init__(self, show: bool, total: int, label: str) -> None:
        self.progress: Any = None
        if show:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)
        self.label = label

    def update(self, step: int, text: str | None = None) -> None:
        if self.progress is not None:
            description = f"{self.label} {text}" if text else None
            self.progress.update(self.task, completed=step, **({"description": description} if description else {}))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def train_infomax(
    config: InfoMaxConfig, train: ViewSource, test: ViewSource, name: str = "views", true_mi: float | None = None
) -> tuple[InfoMaxHistory, Trained]:
    """Train g1, g2 and the critic with Adam on batches of `train`; evaluate on `test` as `config` says."""
    if train.shapes != test.shapes:
        raise ValueError(f"train and test views differ in shape: {train.shapes} vs {test.shapes}")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    shape1, shape2 = train.shapes
    g1 = make_encoder(config.encoder, shape1, **config.encoder_params)
    g2 = make_encoder(config.encoder, shape2, **config.encoder_params)
    critic = make_critic(config.critic, g1.out_dim, g2.out_dim, **config.critic_params)
    params = [p for m in (g1, g2, critic) for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=config.lr) if params else None
    gen = torch.Generator().manual_seed(config.seed)
    test_batches = _test_batches(test, config)
    probe_train, probe_test = _probe_rows(train, config.probe_train), _probe_rows(test, config.probe_test)
    history = InfoMaxHistory(
        config.to_dict(), name, config.logged_bound, true_mi=true_mi, log_k=math.log(config.batch_size)
    )
    if probe_train is not None and probe_test is not None:
        history.pixel_accuracy = linear_probe(
            probe_train.first, probe_train.labels, probe_test.first, probe_test.labels,
            seed=config.seed, **config.probe_params,
        ).accuracy  # fmt: skip

    def evaluate(step: int, train_values: list[float]) -> str:
        with torch.no_grad():
            values = [float(bound(config.logged_bound, critic(g1(u), g2(v)))) for u, v in test_batches]
        history.step.append(step)
        history.train_bound.append(sum(train_values) / len(train_values) if train_values else math.nan)
        history.test_bound.append(sum(values) / len(values))
        accuracy = rec = None
        if probe_train is not None and probe_test is not None:
            accuracy = linear_probe(
                encode(g1, probe_train.first), probe_train.labels, encode(g1, probe_test.first), probe_test.labels,
                seed=config.seed, **config.probe_params,
            ).accuracy  # fmt: skip
        inverse = getattr(g1, "inverse", None)
        if inverse is not None:
            x = (probe_test.first if probe_test is not None else test_batches[0][0]).flatten(1)
            with torch.no_grad():
                rec = float((inverse(g1(x)) - x).abs().max())
        history.probe_accuracy.append(accuracy)
        history.reconstruction_error.append(rec)
        text = f"{config.logged_bound} {history.test_bound[-1]:.3f}"
        return text if accuracy is None else f"{text} acc {accuracy:.3f}"

    show = sys.stderr.isatty() if config.progress is None else config.progress
    bar = _Bar(show, config.steps, f"{config.encoder}/{config.critic}/{config.objective}")
    try:
        bar.update(0, evaluate(0, []))
        recent: list[float] = []
        for step in range(1, config.steps + 1):
            u, v = train.sample(config.batch_size, gen)
            scores = critic(g1(u), g2(v))
            loss = objective_loss(config.objective, scores, config.target)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged at step {step} (loss {float(loss)}); lower lr")
            recent.append(float(bound(config.logged_bound, scores.detach())))
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if step % config.eval_every == 0 or step == config.steps:
                bar.update(step, evaluate(step, recent))
                recent = []
    finally:
        bar.close()
    history.seconds = time.perf_counter() - started
    return history, Trained(g1, g2, critic)
