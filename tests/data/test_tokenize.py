"""Tokenizers: bytes, BPE training (greedy-merge invariant), GPT-2 parity between tiktoken and `tokenizers`."""

from __future__ import annotations

import inspect
import itertools
import random
import string
from collections import Counter

import pytest

from infomix.data.tokenize.bpe import BPETokenizer, _merge, train_bpe, word_counts
from infomix.data.tokenize.byte import ByteTokenizer

from .conftest import fetch_or_skip


def _random_text(rng, n_words=3000):
    vocab = ["".join(rng.choices("etaoinshrdlu", k=rng.randint(1, 8))) for _ in range(150)]
    words = [rng.choice(vocab) for _ in range(n_words)]
    return " ".join(words) + "\n" + "".join(rng.choices(string.punctuation + "éü€ ", k=200))


def test_byte_tokenizer_round_trip():
    tok = ByteTokenizer()
    text = "héllo wörld 🎉\n" + "".join(chr(random.randrange(32, 0x2FFF)) for _ in range(200))
    ids = tok.encode(text, add_eot=True)
    assert ids[:-1] == list(text.encode())
    assert ids[-1] == tok.eot == 256
    assert tok.vocab_size == 257
    assert tok.decode(ids) == text + "<|endoftext|>"
    with pytest.raises(ValueError, match="outside this tokenizer's vocabulary"):
        tok.decode([257])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(b"bytes")
    assert ByteTokenizer(specials=()).vocab_size == 256


def test_bpe_merges_are_greedy_argmax_pairs():
    pytest.importorskip("regex")
    rng = random.Random()
    text = _random_text(rng)
    tok = train_bpe([text], vocab_size=256 + 60)
    assert len(tok.merges) == 60 == len(tok.pair_counts)
    # replay from scratch: at every step the chosen pair has the highest count, ties to the smallest bytes
    counts = word_counts([text])
    words = {w: list(w) for w in counts}
    vocab = [bytes([i]) for i in range(256)]
    for step, pair in enumerate(tok.merges):
        stats = Counter()
        for w, ids in words.items():
            for p in itertools.pairwise(ids):
                stats[p] += counts[w]
        best = max(stats.values())
        expected = min((p for p, c in stats.items() if c == best), key=lambda p: (vocab[p[0]], vocab[p[1]]))
        assert pair == expected, step
        assert tok.pair_counts[step] == best, step
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        words = {w: _merge(ids, pair, 256 + step) for w, ids in words.items()}
    assert sorted(tok.pair_counts, reverse=True)[0] == tok.pair_counts[0]


def test_bpe_round_trip_compression_and_save(tmp_path):
    pytest.importorskip("regex")
    rng = random.Random()
    text = _random_text(rng)
    tok = train_bpe([text], vocab_size=400)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) < 0.6 * len(text.encode())
    assert all(b"".join(tok.vocab[i] for i in tok.encode(w)) == w.encode() for w in text.split()[:100])
    again = BPETokenizer.load(tok.save(tmp_path / "bpe.json"))
    assert again.merges == tok.merges
    assert again.encode(text) == ids


def test_bpe_stops_at_min_frequency_and_rejects_bad_sizes():
    pytest.importorskip("regex")
    tok = train_bpe(["abcdef"], vocab_size=1000, min_frequency=2)
    assert tok.merges == []
    with pytest.raises(ValueError, match="vocab_size must be an int >= 256"):
        train_bpe(["x"], vocab_size=100)


@pytest.fixture(scope="module")
def gpt2_pair():
    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("tokenizers")
    from infomix.data.tokenize.gpt2 import gpt2_tiktoken, gpt2_tokenizers

    return tiktoken, fetch_or_skip(gpt2_tiktoken), gpt2_tokenizers()


@pytest.mark.network
def test_gpt2_pins_are_tiktokens(gpt2_pair):
    from tiktoken_ext import openai_public

    from infomix.data.tokenize.gpt2 import TIKTOKEN_SHA256, TIKTOKEN_URLS

    source = inspect.getsource(openai_public.gpt2)
    for name in ("vocab.bpe", "encoder.json"):
        assert TIKTOKEN_SHA256[name] in source
        assert TIKTOKEN_URLS[name] in source


@pytest.mark.network
def test_gpt2_tiktoken_and_tokenizers_agree(gpt2_pair):
    _, enc, hf = gpt2_pair
    assert enc.encode("Hello world") == [15496, 995] == hf.encode("Hello world").ids
    assert enc.n_vocab == 50257 == hf.get_vocab_size()
    import sysconfig
    from pathlib import Path

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rng = random.Random()
    samples = [
        (stdlib / "inspect.py").read_text()[:60000],  # code: runs of spaces, tabs, newlines
        "\n".join(rng.choice(Path(stdlib / "this.py").read_text().splitlines()) for _ in range(50)),
        "".join(chr(rng.randrange(32, 0x30FF)) for _ in range(3000)),  # random unicode
        "it's we'll they'd I'M  \t\n\n  123 4.5e-3 🎉🎉 naïve café " * 20,
    ]
    for text in samples:
        a = enc.encode(text)
        assert a == hf.encode(text).ids
        assert enc.decode(a) == text == hf.decode(a)
    both = "end<|endoftext|>start"
    assert enc.encode(both, allowed_special="all") == hf.encode(both).ids
    assert 50256 in hf.encode(both).ids
