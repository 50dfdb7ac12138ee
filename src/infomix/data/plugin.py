"""Registers the data components (`data.corpus`, `data.collection`, `data.images`) and the `infomix data` commands."""

from __future__ import annotations

from typing import Any

from infomix.core.hookspecs import hookimpl


@hookimpl
def register_components(register: Any) -> None:
    from infomix.data.domains import DOMAINS
    from infomix.data.images import FashionMNIST
    from infomix.data.ir import load_beir, load_cranfield, load_licence_known_item, load_limit_small
    from infomix.data.mixture import MixtureCorpus

    for name, cls in DOMAINS.items():
        register("data.corpus", name, cls, summary=cls.summary)
    register(
        "data.corpus",
        "mixture",
        MixtureCorpus,
        summary="streaming batches drawn from several domains by a mixture vector, seeded",
    )
    register(
        "data.collection",
        "cranfield",
        load_cranfield,
        summary="Cranfield 1400: 1,400 abstracts, 225 queries, graded judgements (SMART format)",
    )
    register(
        "data.collection",
        "limit-small",
        load_limit_small,
        summary="LIMIT-small: 46 docs, 1,000 queries, 2 relevant docs each (BEIR jsonl)",
    )
    register("data.collection", "beir", load_beir, summary="any BEIR-format folder (corpus, queries, qrels)")
    register(
        "data.collection",
        "licences",
        load_licence_known_item,
        summary="known-item: licence notices/references (queries) -> their licence text (licensedcode-data)",
    )
    register("data.images", FashionMNIST.name, FashionMNIST, summary=FashionMNIST.summary)


@hookimpl
def register_commands(cli: Any) -> None:
    from infomix.data.commands import data

    cli.add_command(data)
