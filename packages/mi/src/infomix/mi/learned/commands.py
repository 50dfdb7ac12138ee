"""`infomix mi train-learned`: meta-train the learned estimator (resumable; checkpoints written atomically)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import click

from infomix.core.hookspecs import hookimpl


@click.command("train-learned")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), help="Training config JSON.")
@click.option("--steps", type=int, default=None, help="Total steps (overrides the config).")
@click.option("--seed", type=int, default=None, help="Seed of the meta-training data and the initial weights.")
@click.option("--threads", type=int, default=None, help="torch intra-op threads (overrides the config).")
@click.option("--max-minutes", type=float, default=None, help="Stop (with a checkpoint) after this wall time.")
@click.option("--resume/--no-resume", default=True, help="Continue from RUN/checkpoint.pt when it exists.")
@click.option("--init", "init", type=click.Path(dir_okay=False, exists=True), help="Start from this estimator.pt.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def train_learned_command(
    out_dir: str,
    config_file: str | None,
    steps: int | None,
    seed: int | None,
    threads: int | None,
    max_minutes: float | None,
    resume: bool,
    init: str | None,
    progress: bool | None,
) -> None:
    """Meta-train the learned MI estimator into OUT: checkpoint.pt (to resume), estimator.pt (to ship),
    config.json and training.json (steps, wall time, loss curve, validation)."""
    import torch

    from infomix.core.io import atomic_write_json
    from infomix.mi.learned.training import TrainConfig, Trainer, write_training_record

    out = Path(out_dir)
    checkpoint = out / "checkpoint.pt"
    overrides: dict[str, Any] = {
        k: v for k, v in (("steps", steps), ("seed", seed), ("threads", threads), ("init", init)) if v is not None
    }
    if resume and checkpoint.exists():
        if config_file or seed is not None or init is not None:
            raise click.UsageError(
                "--config, --seed and --init cannot change a run being resumed; use --no-resume or a new --out"
            )
        trainer = Trainer.load(checkpoint)
        if overrides:
            trainer.config = TrainConfig.from_dict({**trainer.config.to_dict(), **overrides})
        click.echo(f"resuming {checkpoint} at step {trainer.step}", err=True)
    else:
        data = json.loads(Path(config_file).read_text()) if config_file else {}
        try:
            config = TrainConfig.from_dict({**data, **overrides})
        except (TypeError, ValueError) as exc:
            raise click.ClickException(f"bad training config: {exc}") from None
        trainer = Trainer(config)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {**trainer.config.to_dict(), "data_hash": trainer.data_hash})
    torch.set_num_threads(trainer.config.threads)
    trainer.run(
        checkpoint=checkpoint,
        max_seconds=None if max_minutes is None else 60.0 * max_minutes,
        progress=progress,
        log=lambda line: click.echo(line, err=True),
    )
    trainer.export(out / "estimator.pt")
    record = _calibrate(out / "estimator.pt", trainer.config.calibration_batches)
    write_training_record(trainer, out / "training.json")
    click.echo(
        f"step {trainer.step}: wrote {out / 'estimator.pt'} (best validation step {trainer.best['step']}, "
        f"conformal scale {record['scale']:.3f}, raw 90% coverage {record['raw_coverage']:.3f})"
    )


def _calibrate(
    path: Path,
    batches: int,
    sign_average: bool = True,
    progress: bool = False,
    cell_edges: dict[str, tuple[float, ...]] | Literal["default"] | None = "default",
) -> dict:
    """Fit the conformal scale of an estimator checkpoint on fresh meta-training batches; rewrite it atomically."""
    import torch

    from infomix.core.io import atomic_file
    from infomix.mi.learned.calibration import CELL_EDGES, calibrate
    from infomix.mi.learned.estimator import load_network
    from infomix.mi.learned.metadata import MetaDataConfig

    load_network.cache_clear()
    network, meta = load_network(str(path))
    payload = torch.load(path, map_location="cpu", weights_only=True)
    seed = int(meta["train_config"]["seed"])
    data = MetaDataConfig.from_dict(meta["data_config"])
    edges = CELL_EDGES if cell_edges == "default" else cell_edges
    record = calibrate(network, data, seed, batches, sign_average=sign_average, cell_edges=edges, progress=progress)
    payload["calibration"] = record
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    load_network.cache_clear()
    return record


@click.command("calibrate-learned")
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option("--batches", type=int, default=120, show_default=True, help="Fresh meta-training batches per grid n.")
@click.option(
    "--sign-average/--no-sign-average",
    default=True,
    show_default=True,
    help="Average the quantiles for (x, y) and (x, -y) (the estimator then does the same).",
)
@click.option(
    "--cell-edges",
    default=None,
    metavar="JSON|none",
    help='Mondrian cells: inner bin edges per observable, e.g. \'{"inv_dof": [0.05], "median": [0.5, 1.5]}\' '
    "(the default); 'none' fits one scale per n.",
)
def calibrate_learned_command(checkpoint: str, batches: int, sign_average: bool, cell_edges: str | None) -> None:
    """Refit the split-conformal scales of the learned estimator's 90% interval in CHECKPOINT (at a grid of n,
    interpolated in log n; per family, and per Mondrian cell of the quick t fit's 1/dof x the median when the
    network reads the fit)."""
    edges = "default" if cell_edges is None else parse_cell_edges(cell_edges)
    record = _calibrate(Path(checkpoint), batches, sign_average, sys.stderr.isatty(), edges)
    click.echo(json.dumps(record))


def parse_cell_edges(text: str) -> dict[str, tuple[float, ...]] | None:
    """--cell-edges: 'none', or a JSON object of observable -> increasing inner bin edges."""
    from infomix.mi.learned.calibration import check_cell_edges

    if text.strip().lower() == "none":
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError("expected a JSON object of lists")
        edges = {str(k): tuple(float(e) for e in v) for k, v in data.items()}
        check_cell_edges(edges)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(f"{exc} (got {text!r})", param_hint="--cell-edges") from None
    return edges


@hookimpl
def register_commands(cli: click.Group) -> None:
    from infomix.mi.cli import mi_group

    mi_group.add_command(train_learned_command)
    mi_group.add_command(calibrate_learned_command)
