"""Meta-training of the quantile network: resumable, with atomic checkpoints, an EMA copy and validation."""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infomix.core.io import atomic_file, atomic_write_json
from infomix.mi.learned.metadata import MetaBatch, MetaDataConfig, draw_batch, generator_hash
from infomix.mi.learned.model import ModelConfig, QuantileMINetwork, error_scale_weights, head_inputs, pinball_loss

CHECKPOINT_FORMAT = "infomix-mi-learned/1"
VALIDATION_SEED_OFFSET = 1_000_003
LOSS_WEIGHTINGS = ("none", "error-scale")
SCALAR_LR_SCALE = 10.0
# model options an init checkpoint may lack, and the parameters each adds (zero-initialised: no change at start)
ADDED_PARAMETERS = {"t_statistics": ("t_input.weight", "t_gate"), "width_scaling": ("width_exponent",)}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; with the model and data configs it is everything a run depends on."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: MetaDataConfig = field(default_factory=MetaDataConfig)
    seed: int = 0
    steps: int = 5000
    lr: float = 1e-3
    warmup: int = 200
    final_lr_fraction: float = 0.1
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    eval_every: int = 100
    eval_batches: int = 16
    checkpoint_every: int = 100
    threads: int = 2
    calibration_batches: int = 120  # fresh meta-training batches per grid n for the conformal interval scales
    init: str | None = None  # an estimator checkpoint to start from (fine-tuning on a changed meta-distribution)
    loss_weighting: str = "none"  # or "error-scale": each example weighted by model.error_scale_weights

    def to_dict(self) -> dict:
        out = asdict(self)
        out["model"], out["data"] = self.model.to_dict(), self.data.to_dict()
        return out

    def __post_init__(self) -> None:
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}, got {self.loss_weighting!r}")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {k: v for k, v in data.items() if k not in ("model", "data")}
        unknown = set(known) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(
            model=ModelConfig.from_dict({**ModelConfig().to_dict(), **data.get("model", {})}),
            data=MetaDataConfig.from_dict({**MetaDataConfig().to_dict(), **data.get("data", {})}),
            **known,
        )


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to final_lr_fraction · lr at config.steps."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    floor = config.final_lr_fraction
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_tensors(
    batch: MetaBatch, model: ModelConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """z_x, z_y, the head's statistics (`model.head_inputs`) and the true MI of a meta-batch."""
    zx, zy = torch.from_numpy(batch.zx), torch.from_numpy(batch.zy)
    return zx, zy, head_inputs(model, zx, zy), torch.from_numpy(batch.mutual_information)


class Trainer:
    """Holds the network, its EMA copy, the optimiser and the history; `run` trains, `save`/`load` persist."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        self.model = QuantileMINetwork(config.model)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self._parameter_groups(), lr=config.lr, weight_decay=config.weight_decay)
        self.quantiles = torch.tensor(config.model.quantiles)
        self.step = 0
        self.seconds = 0.0
        self.history: dict[str, list] = {"step": [], "loss": [], "val_step": [], "val_loss": [], "val_mae": []}
        self.best: dict[str, Any] = {"val_loss": math.inf, "step": -1, "state": None}
        self.data_hash = generator_hash(config.data)
        self.init_record: dict[str, Any] | None = None
        if config.init is not None:
            self.init_record = self._start_from(config.init)

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """The weights, then the scalar gates (t_gate, width_exponent) at SCALAR_LR_SCALE times the learning rate.

        Adam moves a parameter by about the learning rate per step, so a scalar starting at 0 would need ~3,000
        steps to travel 1 at 3e-4: too slow for a fine-tune that adds it.
        """
        named = list(self.model.named_parameters())
        groups = [{"params": [p for _, p in named if p.dim() > 0], "lr_scale": 1.0}]
        scalars = [p for _, p in named if p.dim() == 0]
        return groups + ([{"params": scalars, "lr_scale": SCALAR_LR_SCALE, "weight_decay": 0.0}] if scalars else [])

    def _start_from(self, path: str) -> dict[str, Any]:
        """Load an estimator checkpoint's weights into the network and its EMA copy; return what it was."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"init checkpoint {path} does not exist")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        ours = self.config.model.to_dict()
        theirs = {**dict.fromkeys(ADDED_PARAMETERS, False), **(payload.get("model_config") or {})}
        if any(theirs.get(k) != v for k, v in ours.items() if k not in ADDED_PARAMETERS) or any(
            theirs[flag] and not ours[flag] for flag in ADDED_PARAMETERS
        ):
            raise ValueError(
                f"init checkpoint {path} has model config {payload.get('model_config')}, "
                f"but this run's is {ours} (only {' and '.join(ADDED_PARAMETERS)} may be added)"
            )
        # a network gaining inputs or the width scaling starts as the init's: the new parameters start at zero
        new = {key for flag, keys in ADDED_PARAMETERS.items() if ours[flag] and not theirs[flag] for key in keys}
        missing, unexpected = self.model.load_state_dict(payload["state_dict"], strict=False)
        if unexpected or set(missing) != new:
            raise ValueError(
                f"init checkpoint {path} does not fit the network: missing {missing}, unexpected {unexpected}"
            )
        self.ema.load_state_dict(self.model.state_dict())
        return {
            "checkpoint": Path(path).name,
            "data_hash": payload.get("data_hash"),
            "trained_steps": payload.get("trained_steps"),
            "train_seconds": payload.get("train_seconds"),
        }

    # -- one step ---------------------------------------------------------------------------------------
    def train_step(self) -> float:
        c = self.config
        zx, zy, cop, target = batch_tensors(draw_batch(c.seed, self.step, c.data), c.model)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(c, self.step) * group["lr_scale"]
        self.model.train()
        loss = pinball_loss(self.model(zx, zy, cop), target, self.quantiles, self._weights(cop[:, 0], zx.shape[1]))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.step}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                e.lerp_(p, 1.0 - c.ema_decay)
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """Pinball loss (weighted as in training) and MAE of the EMA network's median on fixed validation batches."""
        c = self.config
        losses, errors = [], []
        self.ema.eval()
        for i in range(c.eval_batches):
            zx, zy, cop, target = batch_tensors(draw_batch(c.seed + VALIDATION_SEED_OFFSET, i, c.data), c.model)
            pred = self.ema(zx, zy, cop)
            losses.append(float(pinball_loss(pred, target, self.quantiles, self._weights(cop[:, 0], zx.shape[1]))))
            errors.append(float((pred[:, self.ema.median_index] - target).abs().mean()))
        return float(np.mean(losses)), float(np.mean(errors))

    def _weights(self, copula: torch.Tensor, n: int) -> torch.Tensor | None:
        return error_scale_weights(copula, n) if self.config.loss_weighting == "error-scale" else None

    # -- persistence ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "data_hash": self.data_hash,
            "step": self.step,
            "seconds": self.seconds,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
            "best": self.best,
        }

    def save(self, path: str | Path) -> None:
        with atomic_file(path) as tmp:
            torch.save(self.state(), tmp)

    @classmethod
    def load(cls, path: str | Path) -> Trainer:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a training checkpoint of format {CHECKPOINT_FORMAT}")
        trainer = cls(TrainConfig.from_dict(state["config"]))
        if trainer.data_hash != state["data_hash"]:
            raise ValueError(
                f"{path} was trained on data generator {state['data_hash'][:12]}, but the installed generator "
                f"hashes to {trainer.data_hash[:12]}: resuming would mix two meta-training distributions"
            )
        trainer.model.load_state_dict(state["model"])
        trainer.ema.load_state_dict(state["ema"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.step, trainer.seconds = state["step"], state["seconds"]
        trainer.history, trainer.best = state["history"], state["best"]
        return trainer

    def export(self, path: str | Path, use_best: bool = True, extra: dict | None = None) -> dict[str, Any]:
        """Write the inference checkpoint: EMA weights (of the best validation step) and the configs."""
        weights = self.best["state"] if use_best and self.best["state"] is not None else self.ema.state_dict()
        payload = {
            "format": "infomix-mi-learned-estimator/1",
            "model_config": self.config.model.to_dict(),
            "data_config": self.config.data.to_dict(),
            "train_config": self.config.to_dict(),
            "data_hash": self.data_hash,
            "step": self.best["step"] if use_best and self.best["state"] is not None else self.step,
            "trained_steps": self.step,
            "train_seconds": self.seconds,
            "init": self.init_record,
            "state_dict": {k: v.detach().clone().float() for k, v in weights.items()},
            **(extra or {}),
        }
        with atomic_file(path) as tmp:
            torch.save(payload, tmp)
        return payload

    # -- the loop ---------------------------------------------------------------------------------------
    def run(
        self,
        checkpoint: str | Path | None = None,
        steps: int | None = None,
        max_seconds: float | None = None,
        progress: bool | None = None,
        log: Any = None,
    ) -> None:
        """Train to `steps` (default config.steps) or for max_seconds, checkpointing every checkpoint_every steps."""
        c = self.config
        end = c.steps if steps is None else steps
        show = sys.stderr.isatty() if progress is None else progress
        started = time.perf_counter()
        last = started
        bar = _ProgressBar(end, self.step, show)
        try:
            while self.step < end:
                loss = self.train_step()
                now = time.perf_counter()
                self.seconds += now - last
                last = now
                self.history["step"].append(self.step)
                self.history["loss"].append(loss)
                if self.step % c.eval_every == 0 or self.step == end:
                    val_loss, val_mae = self.validate()
                    self.history["val_step"].append(self.step)
                    self.history["val_loss"].append(val_loss)
                    self.history["val_mae"].append(val_mae)
                    if val_loss < self.best["val_loss"]:
                        state = {k: v.detach().clone() for k, v in self.ema.state_dict().items()}
                        self.best = {"val_loss": val_loss, "step": self.step, "state": state}
                    if log is not None:
                        recent = float(np.mean(self.history["loss"][-c.eval_every :]))
                        log(
                            f"step {self.step}/{end} loss {recent:.4f} val_loss {val_loss:.4f} "
                            f"val_mae {val_mae:.4f} {self.seconds:.0f}s"
                        )
                    last = time.perf_counter()
                bar.update(self.step, loss)
                if checkpoint is not None and (self.step % c.checkpoint_every == 0 or self.step == end):
                    self.save(checkpoint)
                    last = time.perf_counter()
                if max_seconds is not None and now - started >= max_seconds:
                    break
        finally:
            bar.close()
            if checkpoint is not None:
                self.save(checkpoint)


class _ProgressBar:
    """A rich progress bar when shown, nothing otherwise."""

    def __init__(self, total: int, start: int, show: bool) -> None:
        self.progress = None
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("meta-training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeRemainingColumn(),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=total, completed=start, loss="-")

    def update(self, step: int, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.4f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def write_training_record(trainer: Trainer, path: str | Path) -> None:
    """The run as a JSON record: configs, data hash, steps, wall time, loss curve (means over 50 steps)."""
    loss = np.asarray(trainer.history["loss"], dtype=float)
    chunk = 50
    curve = [
        {"step": int(min((i + 1) * chunk, loss.size)), "loss": float(loss[i * chunk : (i + 1) * chunk].mean())}
        for i in range(math.ceil(loss.size / chunk))
    ]
    atomic_write_json(
        path,
        {
            "config": trainer.config.to_dict(),
            "data_hash": trainer.data_hash,
            "steps": trainer.step,
            "train_seconds": trainer.seconds,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "best_step": trainer.best["step"],
            "best_val_loss": trainer.best["val_loss"],
            "loss_curve": curve,
            "validation": [
                {"step": s, "loss": lo, "mae": m}
                for s, lo, m in zip(
                    trainer.history["val_step"], trainer.history["val_loss"], trainer.history["val_mae"], strict=True
                )
            ],
        },
    )
