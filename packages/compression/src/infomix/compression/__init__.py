"""Model compression: weight quantisation, activation sparsity, prompt compression."""

from infomix.compression.rtn import GroupQuantized, RoundToNearest

__all__ = ["GroupQuantized", "RoundToNearest"]
