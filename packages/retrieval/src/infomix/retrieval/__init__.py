"""Retrieval: sparse, dense, learned-sparse and late-interaction retrievers, indexes and IR metrics."""

from infomix.retrieval.bm25 import BM25
from infomix.retrieval.dense import DenseRetriever
from infomix.retrieval.metrics import MRR, NDCG, AveragePrecision, Precision, Recall, mean, ranked
from infomix.retrieval.results import SearchResults
from infomix.retrieval.tokenizer import Tokenizer
from infomix.retrieval.vector_index import ExactIndex, FaissIndex

__all__ = [
    "BM25",
    "MRR",
    "NDCG",
    "AveragePrecision",
    "DenseRetriever",
    "ExactIndex",
    "FaissIndex",
    "Precision",
    "Recall",
    "SearchResults",
    "Tokenizer",
    "mean",
    "ranked",
]
