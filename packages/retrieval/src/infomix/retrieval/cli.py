"""`infomix retrieval index|search|eval`: any retriever over any collection, TREC runs and a metrics report."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import click

from infomix.core.hookspecs import hookimpl
from infomix.core.io import atomic_write_json

REPORT_METRICS = (("ndcg", 10, "nDCG@10"), ("ap", None, "MAP"), ("mrr", 10, "MRR@10"), ("precision", 10, "P@10"),
                  ("recall", 100, "R@100"), ("recall", 1000, "R@1000"))  # fmt: skip


def load_collection(spec: str) -> Any:
    """A registered `data.collection` name (e.g. cranfield), or a path to a BEIR folder."""
    from infomix.core import get_registry

    registry = get_registry()
    if Path(spec).expanduser().is_dir():
        return registry.create("data.collection:beir", path=spec)
    if f"data.collection:{spec}" in registry:
        return registry.create(f"data.collection:{spec}")
    names = ", ".join(c.name for c in registry.components("data.collection"))
    raise click.BadParameter(f"{spec!r} is neither a folder nor a collection name ({names})", param_hint="COLLECTION")


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`-p k1=1.2 -p variant=bm25+` → {"k1": 1.2, "variant": "bm25+"} (Python literals, else strings)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--param")
        try:
            params[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            params[key] = raw
    return params


def build_retriever(name: str, params: dict[str, Any], tokenizer: str | None, stemmer: str | None) -> Any:
    from infomix.core import get_registry

    if tokenizer is not None:
        params["tokenizer"] = tokenizer
    if stemmer is not None:
        params["stemmer"] = stemmer
    try:
        return get_registry().create(f"retrieval.retriever:{name}", **params)
    except (TypeError, ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from exc


def evaluate(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean of each report metric over the judged queries."""
    from infomix.core import get_registry

    registry, report = get_registry(), {}
    for metric, k, label in REPORT_METRICS:
        scores = registry.create(f"retrieval.metric:{metric}", k=k)(run, qrels)
        report[label] = sum(scores.values()) / max(len(scores), 1)
    return report


def _search(retriever: Any, collection: Any, k: int, threads: int) -> tuple[dict[str, dict[str, float]], float]:
    qids = list(collection.queries)
    start = time.perf_counter()
    results = retriever.search([collection.queries[q] for q in qids], k=k, threads=threads)
    return results.to_run(qids), time.perf_counter() - start


def _finish(collection: Any, run: dict, args: dict[str, Any], timings: dict[str, float]) -> None:
    from infomix.retrieval.trec import write_run

    if args["run"]:
        write_run(run, args["run"], tag=args["tag"], k=args["k"])
    summary: dict[str, Any] = {"collection": collection.name, "queries": len(collection.queries),
                               "docs": len(collection.docs), "k": args["k"], **timings}  # fmt: skip
    if collection.qrels:
        summary["metrics"] = evaluate(run, collection.qrels)
    if args["report"]:
        atomic_write_json(Path(args["report"]), summary)
    if args["as_json"]:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{collection.name}: {summary['docs']} docs, {summary['queries']} queries, top {args['k']}")
    for label, value in summary.get("metrics", {}).items():
        click.echo(f"  {label:8s} {value:.4f}")
    if args["run"]:
        click.echo(f"run written to {args['run']}")


_common = [
    click.option("-k", "k", default=1000, show_default=True, help="Documents retrieved per query."),
    click.option("--run", type=click.Path(dir_okay=False), help="Write a TREC run file here."),
    click.option("--report", type=click.Path(dir_okay=False), help="Write the summary (with metrics) as JSON here."),
    click.option("--tag", default="infomix", show_default=True, help="Run tag (last TREC column)."),
    click.option("--threads", default=1, show_default=True, help="Threads for batch search."),
    click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
]


def _with_common(fn: Any) -> Any:
    for option in reversed(_common):
        fn = option(fn)
    return fn


_retriever_options = [
    click.option("--retriever", default="bm25", show_default=True, help="A retrieval.retriever component."),
    click.option("-p", "--param", "params", multiple=True, help="Retriever parameter NAME=VALUE (repeatable)."),
    click.option("--tokenizer", help="Tokenizer preset (bm25s, words)."),
    click.option("--stemmer", help="Snowball stemmer language, e.g. english (needs PyStemmer)."),
]


def _with_retriever(fn: Any) -> Any:
    for option in reversed(_retriever_options):
        fn = option(fn)
    return fn


@click.group("retrieval")
def retrieval_group() -> None:
    """Index, search and evaluate retrievers on IR collections."""


@retrieval_group.command("eval")
@click.argument("collection")
@_with_retriever
@_with_common
def eval_command(collection: str, retriever: str, params: tuple[str, ...], tokenizer: str | None,
                 stemmer: str | None, **args: Any) -> None:  # fmt: skip
    """Index COLLECTION (a collection name or BEIR folder), search its queries, report the metrics."""
    coll = load_collection(collection)
    model = build_retriever(retriever, parse_params(params), tokenizer, stemmer)
    start = time.perf_counter()
    doc_ids = list(coll.docs)
    model.index([coll.docs[d].full_text for d in doc_ids], ids=doc_ids)
    index_seconds = time.perf_counter() - start
    run, search_seconds = _search(model, coll, args["k"], args["threads"])
    _finish(coll, run, args, {"index_seconds": round(index_seconds, 4), "search_seconds": round(search_seconds, 4)})


@retrieval_group.command("index")
@click.argument("collection")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to save the index in.")
@_with_retriever
def index_command(collection: str, out: str, retriever: str, params: tuple[str, ...], tokenizer: str | None,
                  stemmer: str | None) -> None:  # fmt: skip
    """Index COLLECTION's documents and save the index to --out (searched later with `search`)."""
    coll = load_collection(collection)
    model = build_retriever(retriever, parse_params(params), tokenizer, stemmer)
    if not hasattr(model, "save"):
        raise click.UsageError(f"retriever {retriever!r} cannot be saved")
    doc_ids = list(coll.docs)
    model.index([coll.docs[d].full_text for d in doc_ids], ids=doc_ids)
    model.save(out)
    atomic_write_json(Path(out) / "infomix-retriever.json", {"retriever": retriever, "collection": coll.name})
    click.echo(f"indexed {len(doc_ids)} docs of {coll.name} with {retriever} into {out}")


@retrieval_group.command("search")
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("collection")
@_with_common
def search_command(index_dir: str, collection: str, **args: Any) -> None:
    """Search COLLECTION's queries with the index saved in INDEX_DIR; report metrics when it has qrels."""
    from infomix.core import get_registry

    meta_path = Path(index_dir) / "infomix-retriever.json"
    if not meta_path.exists():
        raise click.UsageError(f"{index_dir} was not written by `infomix retrieval index` (no {meta_path.name})")
    meta = json.loads(meta_path.read_text())
    factory = get_registry().get(f"retrieval.retriever:{meta['retriever']}").factory
    model = factory.load(index_dir)
    coll = load_collection(collection)
    run, seconds = _search(model, coll, args["k"], args["threads"])
    _finish(coll, run, args, {"search_seconds": round(seconds, 4)})


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(retrieval_group)
