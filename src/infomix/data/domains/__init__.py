"""The six text domains, one module each, and a name -> class table."""

from __future__ import annotations

from infomix.data.corpus import Corpus
from infomix.data.domains.code import CodeCorpus
from infomix.data.domains.dialogue import DialogueCorpus
from infomix.data.domains.legal import LegalCorpus
from infomix.data.domains.math import MathCorpus
from infomix.data.domains.prose import ProseCorpus
from infomix.data.domains.techdoc import TechdocCorpus

DOMAINS: dict[str, type[Corpus]] = {
    c.name: c for c in (CodeCorpus, LegalCorpus, DialogueCorpus, TechdocCorpus, MathCorpus, ProseCorpus)
}


def get_domain(name: str, **params: object) -> Corpus:
    """Build the corpus of domain `name` (parameters as for `Corpus`)."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; known domains: {', '.join(DOMAINS)}")
    return DOMAINS[name](**params)  # type: ignore[arg-type]
