"""The plugin module named by the entry point: one hook per concern, each a few lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from infomix.core import hookimpl


class PrecisionAtK:
    """Precision@k: the fraction of the top k retrieved docs that are relevant (grade ≥ 1).

    Follows trec_eval's ``P_k``: the denominator is k even when fewer than k docs were retrieved, so
    a perfect score needs at least k relevant docs. Runs map query → {doc: score}, qrels query → {doc: grade}.
    """

    def __init__(self, k: int = 10) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = k

    def __call__(
        self, run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
    ) -> dict[str, float]:
        scores = {}
        for query, judgements in qrels.items():
            if not any(g > 0 for g in judgements.values()):
                continue
            ranked = sorted(run.get(query, {}).items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[: self.k]
            scores[query] = sum(judgements.get(doc, 0) > 0 for doc, _ in ranked) / self.k
        return scores


@hookimpl
def register_components(register: Any) -> None:
    register("retrieval.metric", "precision", PrecisionAtK)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="example-precision")
    @click.argument("run_json", type=click.File())
    @click.argument("qrels_json", type=click.File())
    @click.option("-k", default=10, show_default=True, help="Cutoff.")
    def example_precision(run_json: Any, qrels_json: Any, k: int) -> None:
        """Mean Precision@k of a run (JSON {query: {doc: score}}) against qrels (JSON {query: {doc: grade}})."""
        scores = PrecisionAtK(k)(json.load(run_json), json.load(qrels_json))
        click.echo(f"P@{k} = {sum(scores.values()) / max(len(scores), 1):.4f} over {len(scores)} queries")
