"""The built-in plugin modules of infomix-retrieval, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = (
    "infomix.retrieval.metrics",
    "infomix.retrieval.bm25",
    "infomix.retrieval.cli",
    "infomix.retrieval.vector_index",
    "infomix.retrieval.dense",
    "infomix.retrieval.learned_sparse",
)
