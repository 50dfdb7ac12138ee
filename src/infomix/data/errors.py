"""Errors of the data layer: a failed checksum, an unreachable source, a missing optional library."""

from __future__ import annotations


class DataError(Exception):
    """Base class of data errors."""


class ChecksumError(DataError):
    """A downloaded or extracted file does not have its pinned sha256."""


class SourceUnavailable(DataError):
    """A source cannot be fetched on this machine (no pip/apt, no network, unknown package, ...)."""


class NotFetched(DataError):
    """A model or data set is neither installed nor in the cache; the message says how to get it."""


class MissingDependency(DataError, ImportError):
    """An optional third-party library is not installed; the message names the extra that provides it."""
