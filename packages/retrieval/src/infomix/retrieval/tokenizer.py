"""Text to terms: lowercasing, regex splitting, stop words and optional Snowball stemming (PyStemmer)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Lucene's English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET); bm25s's `stopwords="en"` is the same 33 words.
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    }
)

STOP_WORD_LISTS: dict[str, frozenset[str]] = {"english": ENGLISH_STOP_WORDS, "en": ENGLISH_STOP_WORDS}

# bm25s's default: lowercase, the scikit-learn word pattern (tokens of two or more word characters), its English
# stop list applied to the unstemmed lowercase tokens, then (if asked) stemming.
PRESETS: dict[str, dict[str, Any]] = {
    "bm25s": {"lowercase": True, "pattern": r"(?u)\b\w\w+\b", "stopwords": "english"},
    "words": {"lowercase": True, "pattern": r"\w+", "stopwords": None},
}


def _stop_words(stopwords: str | Iterable[str] | None) -> frozenset[str]:
    if stopwords is None:
        return frozenset()
    if isinstance(stopwords, str):
        if stopwords not in STOP_WORD_LISTS:
            known = sorted(STOP_WORD_LISTS)
            raise ValueError(f"stopwords must be one of {known}, a list of words or None, got {stopwords!r}")
        return STOP_WORD_LISTS[stopwords]
    words = list(stopwords)
    if not all(isinstance(w, str) for w in words):
        raise TypeError("stopwords must be a list of strings")
    return frozenset(words)


def _snowball(language: str) -> Any:
    try:
        import Stemmer
    except ImportError as error:
        raise ImportError(
            f"stemmer={language!r} needs PyStemmer (Snowball stemmers): pip install 'infomix-retrieval[stem]'"
        ) from error
    if language not in Stemmer.algorithms():
        raise ValueError(f"stemmer must be one of PyStemmer's languages {Stemmer.algorithms()}, got {language!r}")
    return Stemmer.Stemmer(language)


class Tokenizer:
    """Turns text into a list of terms: lowercase → regex ``findall`` → drop stop words → Snowball stem.

    Stop words are matched against the lowercased, unstemmed tokens (as bm25s does). ``stemmer`` is a Snowball
    language name (``"english"``, ``"porter"``, ...) and needs the optional PyStemmer dependency.
    """

    def __init__(
        self,
        *,
        lowercase: bool = True,
        pattern: str = r"\w+",
        stopwords: str | Iterable[str] | None = None,
        stemmer: str | None = None,
    ) -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a regular expression string, got {type(pattern).__name__}")
        try:
            self._findall = re.compile(pattern).findall
        except re.error as error:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {error}") from error
        if stemmer is not None and not isinstance(stemmer, str):
            raise TypeError(f"stemmer must be a Snowball language name or None, got {type(stemmer).__name__}")
        self.lowercase = bool(lowercase)
        self.pattern = pattern
        self.stopwords = _stop_words(stopwords)
        self.stemmer = stemmer
        self._stem = _snowball(stemmer).stemWord if stemmer else None
        self._stems: dict[str, str] = {}

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Tokenizer:
        """A named configuration (``"bm25s"``, ``"words"``), with any argument overridden (e.g. ``stemmer``)."""
        if name not in PRESETS:
            raise ValueError(f"unknown tokenizer preset {name!r}; known presets: {', '.join(PRESETS)}")
        return cls(**(PRESETS[name] | overrides))

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tokens = self._findall(text.lower() if self.lowercase else text)
        if self.stopwords:
            tokens = [t for t in tokens if t not in self.stopwords]
        if self._stem is None:
            return tokens
        stems, stem = self._stems, self._stem
        out = []
        for t in tokens:
            s = stems.get(t)
            if s is None:
                s = stems[t] = stem(t)
            out.append(s)
        return out

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokenize each text of a sequence."""
        return [self(t) for t in texts]

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable (stop words sorted)."""
        return {
            "lowercase": self.lowercase,
            "pattern": self.pattern,
            "stopwords": sorted(self.stopwords) or None,
            "stemmer": self.stemmer,
        }

    def __repr__(self) -> str:
        return (
            f"Tokenizer(lowercase={self.lowercase}, pattern={self.pattern!r}, "
            f"stopwords=<{len(self.stopwords)} words>, stemmer={self.stemmer!r})"
        )
