"""`infomix mi infomax`: train one two-view InfoMax configuration and write its history and plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _params(values: tuple[str, ...], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip().isidentifier():
            raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint=option)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


@click.command("infomax")
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help="Built-in views: digits, fashion-mnist, gaussian, gaussian-noniid.",
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), help="JSON InfoMaxConfig.")
@click.option("--encoder", default=None, help="mlp, conv, resmlp, flow or identity (default mlp).")
@click.option("--critic", default=None, help="A registered mi.critic (default bilinear).")
@click.option("--objective", default=None, help="nce, nwj or triplet (default nce).")
@click.option("--target", type=float, default=None, help="Hold the bound at this value: loss |I - target|.")
@click.option("--steps", type=int, default=None, help="Training steps (default 3000).")
@click.option("--batch-size", type=int, default=None, help="Batch size K (default 128).")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 1e-4).")
@click.option("--eval-every", type=int, default=None, help="Steps between evaluations (default 500).")
@click.option("--seed", type=int, default=None, help="Seed (default 0).")
@click.option("--encoder-param", "-E", multiple=True, metavar="KEY=VALUE", help="Encoder parameter (JSON value).")
@click.option("--critic-param", "-C", multiple=True, metavar="KEY=VALUE", help="Critic parameter (JSON value).")
@click.option("--data-param", "-D", multiple=True, metavar="KEY=VALUE", help="Data parameter, e.g. n_train=10000.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads (default: torch's).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for history.json/.csv/.png.")
def infomax_command(
    data: str,
    config_file: str | None,
    encoder_param: tuple[str, ...],
    critic_param: tuple[str, ...],
    data_param: tuple[str, ...],
    threads: int | None,
    out: str,
    **options: Any,
) -> None:
    """Train two encoders and a critic on two views of DATA; write the bound and probe accuracy over training."""
    import contextlib

    from infomix.core.threads import torch_threads
    from infomix.mi.representation.run import run_infomax
    from infomix.mi.representation.train import InfoMaxConfig

    settings: dict[str, Any] = json.loads(Path(config_file).read_text()) if config_file else {}
    settings.update({k: v for k, v in options.items() if v is not None})
    if encoder_param:
        settings["encoder_params"] = {**settings.get("encoder_params", {}), **_params(encoder_param, "-E")}
    if critic_param:
        settings["critic_params"] = {**settings.get("critic_params", {}), **_params(critic_param, "-C")}
    try:
        config = InfoMaxConfig(**settings)
        with torch_threads(threads) if threads else contextlib.nullcontext():
            history = run_infomax(config, data, _params(data_param, "-D"), out)
    except (ValueError, TypeError, ImportError, FloatingPointError) as exc:
        raise click.ClickException(str(exc)) from None
    last = len(history.step) - 1
    acc = history.probe_accuracy[last]
    click.echo(
        f"{data}: step {history.step[last]}, test I_{history.bound} = {history.test_bound[last]:.4f} nats"
        + ("" if acc is None else f", probe accuracy {acc:.4f} (pixels {history.pixel_accuracy:.4f})")
        + f", {history.seconds:.1f} s; wrote {Path(out) / 'history.json'}"
    )
