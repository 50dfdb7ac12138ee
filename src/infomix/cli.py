"""The `infomix` command: list and inspect components, plugins and the build; plugins add sub-commands."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infomix.core.errors import RegistryError
from infomix.core.kinds import KINDS
from infomix.core.plugins import get_host, get_registry

console = Console()


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="infomix")
def cli() -> None:
    """infomix: mutual information, data mixtures, MoE, compression and retrieval on shared compiled ops."""


@cli.command("list")
@click.argument("kind", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_components(kind: str | None, as_json: bool) -> None:
    """List registered components, optionally of one KIND (e.g. mi.estimator)."""
    try:
        components = get_registry().components(kind)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        _emit_json([{k: c.to_dict()[k] for k in ("key", "summary", "distribution", "version")} for c in components])
        return
    table = Table("component", "summary", "from")
    for c in components:
        table.add_row(escape(c.key), escape(c.summary), escape(c.distribution or c.provider))
    console.print(table)
    _warn_failed()


@cli.command()
@click.argument("key", metavar="KIND:NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(key: str, as_json: bool) -> None:
    """Show a component's documentation, parameters and providing distribution."""
    try:
        component = get_registry().get(key)
    except RegistryError as exc:
        _fail(str(exc))
    data = component.to_dict()
    if as_json:
        _emit_json(data)
        return
    console.print(f"[bold]{data['key']}[/bold]  ({data['distribution'] or data['provider']} {data['version'] or ''})")
    console.print(data["doc"], markup=False)
    table = Table("parameter", "type", "default")
    for p in data["params"]:
        default = "(required)" if p["required"] else repr(p["default"])
        table.add_row(escape(p["name"]), escape(p["type"]), escape(default))
    console.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """Show each plugin: loaded, failed (with its error) or disabled."""
    host = get_host()
    host.registry  # noqa: B018 - building the registry runs the hooks, which may fail plugins
    records = sorted(host.records.values(), key=lambda r: r.name)
    if as_json:
        _emit_json([r.to_dict() for r in records])
        return
    table = Table("plugin", "distribution", "status", "components / error")
    for r in records:
        detail = r.error if r.status != "loaded" else ", ".join(r.components) or "(commands only)"
        style = {"loaded": "green", "failed": "red"}.get(r.status, "yellow")
        dist = escape(f"{r.distribution or '-'} {r.version or ''}")
        table.add_row(escape(r.name), dist, f"[{style}]{r.status}[/{style}]", escape(detail or ""))
    console.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kinds(as_json: bool) -> None:
    """List the component kinds and the contract of each."""
    if as_json:
        _emit_json(KINDS)
        return
    table = Table("kind", "contract")
    for kind, doc in KINDS.items():
        table.add_row(kind, escape(doc))
    console.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(as_json: bool) -> None:
    """Report Python, torch, CUDA, which compiled kernels are present, and build information."""
    from infomix.core.doctor import diagnose

    report = diagnose()
    if as_json:
        _emit_json(report)
        return
    build = report["build"]
    console.print(f"python {report['python']}  torch {report['torch']}  threads {report['threads']}")
    console.print(f"CUDA available: {report['cuda']['available']} (torch CUDA {report['cuda']['torch_cuda_version']})")
    compiled = "[green]yes[/green]" if build["compiled"] else "[red]no[/red]"
    console.print(f"compiled kernels loaded: {compiled}")
    console.print(f"  CPU kernels: {', '.join(build.get('cpu_kernels') or []) or '(none)'}")
    console.print(f"  CUDA kernels: {', '.join(build.get('cuda_kernels') or []) or '(none)'}")
    console.print(
        f"  built with torch {build.get('torch_version', '?')}, CUDA {build.get('torch_cuda_version') or '-'}"
    )
    console.print(f"  OpenMP (parallel CPU loops): {'yes' if build.get('openmp') else 'no'}")
    for dist, ver in report["distributions"].items():
        console.print(f"{dist}: {ver or '[dim]not installed[/dim]'}")
    for problem in report["problems"]:
        console.print(f"[yellow]! {problem}[/yellow]")


def _warn_failed() -> None:
    failed = get_host().failed()
    if failed:
        names = ", ".join(r.name for r in failed)
        click.echo(f"warning: {len(failed)} plugin(s) failed to load: {names} (see `infomix plugins`)", err=True)


def _add_plugin_commands() -> None:
    host = get_host()
    for impl in host.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:
            record = host.records.get(impl.plugin_name)
            if record is not None:
                host._fail(record, exc)


def main(argv: list[str] | None = None) -> None:
    _add_plugin_commands()
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="infomix")


if __name__ == "__main__":
    main()
