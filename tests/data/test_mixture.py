"""MixtureCorpus: domain proportions, reproducibility, row provenance, skipping unavailable domains."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from infomix.data.corpus import Corpus, Document
from infomix.data.errors import DataError, SourceUnavailable
from infomix.data.mixture import DomainSkipped, MixtureCorpus
from infomix.data.tokenize.byte import ByteTokenizer

ALPHABETS = {"aa": "abcdef \n", "bb": "ghijkl \n", "cc": "mnopqr \n"}


def _domain(name, n_docs=60, rng=None):
    rng = rng or random.Random()
    letters = ALPHABETS[name]

    class Synthetic(Corpus):
        summary = "synthetic"

        def raw_documents(self, folders):
            for i in range(n_docs):
                yield Document(f"{name}-{i}", "".join(rng.choices(letters, k=rng.randint(50, 500))))

    Synthetic.name = name
    return Synthetic()


class Unreachable(Corpus):
    name = "far"

    def raw_documents(self, folders):
        raise SourceUnavailable("far: apt-get is not available here")
        yield


@pytest.fixture
def domains(cache):
    return [_domain(n) for n in ALPHABETS]


def test_rows_come_from_their_domain(domains):
    mix = MixtureCorpus(domains, [0.5, 0.3, 0.2], seq_len=64, batch_size=16, seed=1)
    allowed = [set(ALPHABETS[n].encode()) | {256} for n in mix.names]
    for batch in mix.batches(20):
        assert batch.tokens.shape == (16, 65)
        assert batch.tokens.dtype == torch.long
        for row, d in zip(batch.tokens.tolist(), batch.domains.tolist(), strict=True):
            assert set(row) <= allowed[d]


def test_proportions_within_tolerance(domains):
    weights = np.array([0.6, 0.3, 0.1])
    mix = MixtureCorpus(domains, weights, seq_len=8, batch_size=64, seed=random.randrange(10**6))
    counts = np.bincount(torch.cat([b.domains for b in mix.batches(60)]).numpy(), minlength=3)
    n = counts.sum()
    sd = np.sqrt(weights * (1 - weights) / n)
    assert np.all(np.abs(counts / n - weights) < 5 * sd), counts


def test_same_seed_same_batches_different_seed_different(domains):
    def run(seed):
        mix = MixtureCorpus(domains, {"aa": 1, "bb": 1, "cc": 2}, seq_len=32, batch_size=8, seed=seed)
        return [b.tokens for b in mix.batches(10)]

    a, b, c = run(3), run(3), run(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_reset_restarts_the_stream(domains):
    mix = MixtureCorpus(domains, [1, 1, 1], seq_len=16, batch_size=4, seed=0)
    first = [b.tokens for b in mix.batches(5)]
    mix.reset()
    assert all(torch.equal(x, y) for x, y in zip(first, [b.tokens for b in mix.batches(5)], strict=True))


def test_stream_reads_every_document_each_epoch(cache):
    dom = _domain("aa", n_docs=5)
    tok = ByteTokenizer()
    total = sum(len(d.text.encode()) + 1 for d in dom.documents("train"))
    mix = MixtureCorpus([dom], [1.0], seq_len=total - 1, batch_size=1, seed=0, tokenizer=tok)
    row = mix.next_batch().tokens[0].tolist()
    docs = [
        row[i:j]
        for i, j in zip(
            [0, *[k + 1 for k, t in enumerate(row) if t == 256]],
            [k for k, t in enumerate(row) if t == 256],
            strict=False,
        )
    ]
    assert sorted(bytes(d).decode() for d in docs) == sorted(d.text for d in dom.documents("train"))


def test_unavailable_domain_is_skipped_with_a_warning(domains):
    with pytest.warns(DomainSkipped, match="skipping domain 'far'.*apt-get"):
        mix = MixtureCorpus([*domains, Unreachable()], [1, 1, 1, 3], seq_len=8, batch_size=4)
    assert mix.names == ["aa", "bb", "cc"]
    assert "far" in mix.skipped
    assert np.allclose(mix.weights, [1 / 3] * 3)
    with pytest.raises(SourceUnavailable):
        MixtureCorpus([*domains, Unreachable()], [1, 1, 1, 3], skip_unavailable=False)
    with pytest.warns(DomainSkipped), pytest.raises(DataError, match="no domain of the mixture is available"):
        MixtureCorpus([Unreachable()], [1])


def test_zero_weight_domain_is_never_fetched(domains):
    mix = MixtureCorpus([*domains, Unreachable()], [1, 1, 1, 0], seq_len=8, batch_size=4)
    assert mix.names == ["aa", "bb", "cc"]
    assert mix.skipped == {}


def test_token_level_batches_with_a_trained_bpe(domains):
    pytest.importorskip("regex")
    from infomix.data.tokenize.bpe import train_bpe

    tok = train_bpe((t for d in domains for t in d.texts("train")), vocab_size=300)
    mix = MixtureCorpus(domains, [1, 1, 1], seq_len=32, batch_size=8, tokenizer=tok)
    batch = mix.next_batch()
    assert batch.tokens.max() < tok.vocab_size
    assert batch.tokens.max() >= 256
    for row, d in zip(batch.tokens.tolist(), batch.domains.tolist(), strict=True):
        assert set(tok.decode(row)) <= set(ALPHABETS[mix.names[d]])


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1, 1], "one entry per domain"),
        ([1, -1, 1], "non-negative"),
        ([0, 0, 0], "not all zero"),
        ([1, float("nan"), 1], "finite"),
        ({"zz": 1}, "unknown domains"),
    ],
)
def test_bad_weights(domains, weights, message):
    with pytest.raises(ValueError, match=message):
        MixtureCorpus(domains, weights)


def test_bad_shapes_and_split(domains):
    with pytest.raises(ValueError, match="seq_len and batch_size must be positive"):
        MixtureCorpus(domains, [1, 1, 1], seq_len=0)
    with pytest.raises(ValueError, match="split must be one of"):
        MixtureCorpus(domains, [1, 1, 1], split="dev")


@pytest.mark.network
def test_gpt2_token_batches_agree_between_backends(domains):
    pytest.importorskip("tiktoken")
    pytest.importorskip("tokenizers")
    from infomix.data.tokenize.gpt2 import gpt2_tiktoken, gpt2_tokenizers

    from .conftest import fetch_or_skip

    enc = fetch_or_skip(gpt2_tiktoken)
    a = MixtureCorpus(domains, [2, 1, 1], seq_len=48, batch_size=4, seed=7, tokenizer=enc)
    b = MixtureCorpus(domains, [2, 1, 1], seq_len=48, batch_size=4, seed=7, tokenizer=gpt2_tokenizers())
    for x, y in zip(a.batches(5), b.batches(5), strict=True):
        assert torch.equal(x.tokens, y.tokens)
        assert torch.equal(x.domains, y.domains)
    assert 50256 in torch.cat([x.tokens for x in a.batches(20)]).flatten().tolist()  # documents end with <|endoftext|>
