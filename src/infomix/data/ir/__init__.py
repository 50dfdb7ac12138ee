"""IR collections (`data.collection`): documents, queries and graded relevance judgements in one shape."""

from __future__ import annotations

from infomix.data.ir.beir import load_beir, load_limit_small
from infomix.data.ir.collection import Collection, CollectionDoc
from infomix.data.ir.cranfield import load_cranfield
from infomix.data.ir.licences import load_licence_known_item

__all__ = ["Collection", "CollectionDoc", "load_beir", "load_cranfield", "load_licence_known_item", "load_limit_small"]
