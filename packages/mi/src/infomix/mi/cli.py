"""The `infomix mi` commands: estimate MI from a file's columns, list the estimators and the named tasks."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from infomix.core.hookspecs import hookimpl


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--param")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as interval=bootstrap
    return key.strip(), value


def _number(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


@click.group("mi")
def mi_group() -> None:
    """Mutual-information estimation (infomix-mi)."""


@mi_group.command("estimate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--x",
    "x_cols",
    required=True,
    metavar="COLS",
    help="x columns: names or 0-based indices, comma-separated; i:j is a range.",
)
@click.option("--y", "y_cols", required=True, metavar="COLS", help="y columns, as for --x.")
@click.option(
    "--estimator", "-e", default=None, metavar="NAME", help="An mi.estimator (default: the most accurate installed)."
)
@click.option(
    "--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="Estimator parameter (repeatable), e.g. -p k=5."
)
@click.option("--bits", is_flag=True, help="Report bits instead of nats.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def estimate_command(
    file: str, x_cols: str, y_cols: str, estimator: str | None, params: tuple[str, ...], bits: bool, as_json: bool
) -> None:
    """Estimate I(x; y) from the columns of FILE (CSV with a header row, NPY, NPZ or Parquet)."""
    from infomix.core.errors import RegistryError
    from infomix.mi.estimate import default_estimator, estimate
    from infomix.mi.tables import ColumnError, load_xy

    kwargs = dict(_parse_param(p) for p in params)
    try:
        x, y, x_names, y_names = load_xy(file, x_cols, y_cols)
        name = estimator or default_estimator(x, y)
        result = estimate(x, y, estimator=name, bits=bits, **kwargs)
    except (ColumnError, RegistryError, ValueError, TypeError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    data = {
        "value": _number(result.value),
        "lower": _number(result.lower),
        "upper": _number(result.upper),
        "unit": result.unit,
        "estimator": name,
        "n": int(x.shape[0]),
        "seconds": result.info["seconds"],
        "x": x_names,
        "y": y_names,
        "interval": result.info.get("interval"),
        "confidence": result.info.get("confidence"),
    }
    if "ksg_check" in result.info:  # the learned estimator's -p ksg_check=true
        data["ksg_check"] = result.info["ksg_check"]
    if as_json:
        click.echo(json.dumps(data))
        return
    interval = (
        "" if result.lower is None else f"  interval [{result.lower:.4f}, {result.upper:.4f}] ({data['interval']})"
    )
    click.echo(f"I(x; y) = {result.value:.4f} {result.unit}{interval}")
    click.echo(
        f"estimator {name}, n = {data['n']}, x = {', '.join(x_names)}, y = {', '.join(y_names)}, "
        f"{data['seconds']:.3f} s"
    )


@mi_group.command("estimators")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def estimators_command(as_json: bool) -> None:
    """List the registered mi.estimator components, one line each (the default is marked)."""
    from infomix.core import get_registry
    from infomix.mi.estimate import default_estimator

    components = get_registry().components("mi.estimator")
    default = default_estimator() if components else None
    if as_json:
        click.echo(
            json.dumps([{"name": c.name, "summary": c.summary, "default": c.name == default} for c in components])
        )
        return
    width = max((len(c.name) for c in components), default=0)
    for c in components:
        mark = "*" if c.name == default else " "
        click.echo(f"{mark} {c.name:<{width}}  {c.summary}")
    if default:
        click.echo(f"(* default: {default})")


@mi_group.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tasks_command(as_json: bool) -> None:
    """List the named tasks with their dimensions and true MI in nats."""
    from infomix.mi.tasks import NAMED_TASKS, task

    rows = []
    for name in NAMED_TASKS:
        t = task(name)
        rows.append({"name": name, "dim_x": t.dim_x, "dim_y": t.dim_y, "mutual_information": t.mutual_information})
    if as_json:
        click.echo(json.dumps(rows))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['dim_x']}x{r['dim_y']}  {r['mutual_information']:.4f}")


from infomix.mi.representation.commands import infomax_command  # noqa: E402 (click only; torch loads on use)

mi_group.add_command(infomax_command)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(mi_group)
