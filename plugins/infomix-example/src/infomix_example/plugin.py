"""The plugin module named by the entry point: one hook per concern, each a few lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from infomix.core import hookimpl


class RPrecision:
    """R-precision: the fraction of relevant docs among the top R, where R is the query's number of relevant docs.

    Follows trec_eval's ``Rprec``: relevant means grade ≥ ``min_grade``; a query with no relevant doc
    scores 0. Runs map query → {doc: score}, qrels query → {doc: grade}; ties rank by decreasing doc id.
    """

    def __init__(self, min_grade: int = 1) -> None:
        if not isinstance(min_grade, int) or min_grade < 1:
            raise ValueError(f"min_grade must be a positive integer, got {min_grade!r}")
        self.min_grade = min_grade

    def __call__(
        self, run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
    ) -> dict[str, float]:
        scores = {}
        for query, judgements in qrels.items():
            relevant = {doc for doc, grade in judgements.items() if grade >= self.min_grade}
            ranked = sorted(run.get(query, {}).items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            top = [doc for doc, _ in ranked[: len(relevant)]]
            scores[query] = len(relevant.intersection(top)) / len(relevant) if relevant else 0.0
        return scores


@hookimpl
def register_components(register: Any) -> None:
    register("retrieval.metric", "rprecision", RPrecision)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="example-rprec")
    @click.argument("run_json", type=click.File())
    @click.argument("qrels_json", type=click.File())
    def example_rprec(run_json: Any, qrels_json: Any) -> None:
        """Mean R-precision of a run (JSON {query: {doc: score}}) against qrels (JSON {query: {doc: grade}})."""
        scores = RPrecision()(json.load(run_json), json.load(qrels_json))
        click.echo(f"R-precision = {sum(scores.values()) / max(len(scores), 1):.4f} over {len(scores)} queries")
