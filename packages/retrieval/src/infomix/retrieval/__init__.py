"""Retrieval: sparse, dense, learned-sparse and late-interaction retrievers, indexes and IR metrics."""

from infomix.retrieval.metrics import MRR, NDCG, AveragePrecision, Precision, Recall, mean, ranked

__all__ = ["MRR", "NDCG", "AveragePrecision", "Precision", "Recall", "mean", "ranked"]
