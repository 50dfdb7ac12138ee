"""Dense retrieval: pooling invariants, the MiniLM encoder, the embedding cache, the retriever and its CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from infomix.retrieval.dense import DenseRetriever
from infomix.retrieval.embedding_cache import EmbeddingCache, texts_fingerprint
from infomix.retrieval.pooling import l2_normalise, mean_pool


def test_mean_pool_matches_float64_loop_and_ignores_padding():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(5, 9, 7, generator=gen, dtype=torch.float64)
    lengths = [9, 1, 4, 6, 2]
    mask = torch.arange(9)[None] < torch.tensor(lengths)[:, None]
    expected = torch.stack([hidden[i, :n].mean(0) for i, n in enumerate(lengths)])
    torch.testing.assert_close(mean_pool(hidden, mask), expected)
    scrambled = hidden.masked_fill(~mask[..., None], 1e6)  # padding values must not matter
    torch.testing.assert_close(mean_pool(scrambled, mask), expected)
    assert mean_pool(hidden, torch.zeros(5, 9, dtype=torch.bool)).abs().max() == 0


def test_l2_normalise_unit_norm_and_scale_invariant():
    x = torch.randn(6, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = l2_normalise(x)
    torch.testing.assert_close(y.norm(dim=-1), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(l2_normalise(3.7 * x), y)
    torch.testing.assert_close(y * x.norm(dim=-1, keepdim=True), x)


class HashEncoder:
    """A deterministic bag-of-hashed-words encoder: a stand-in with the encoder interface, counting its calls."""

    def __init__(self, dim: int = 16) -> None:
        self.dim, self.calls, self.fingerprint = dim, 0, f"hash-{dim}"

    def encode(self, texts, batch_size=32, progress=True):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def test_cache_hits_misses_and_corruption(tmp_path):
    cache, encoder = EmbeddingCache(tmp_path), HashEncoder()
    texts = ["shock waves", "heat flux", "wing"]
    first = cache.encode(encoder, texts)
    np.testing.assert_array_equal(cache.encode(encoder, texts), first)
    assert encoder.calls == 1
    cache.encode(encoder, [*texts[:2], "wings"])
    assert encoder.calls == 2
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["a", "bc"])
    path = cache.path(encoder.fingerprint, texts)
    path.write_bytes(b"not an array")
    np.testing.assert_array_equal(cache.encode(encoder, texts), first)
    assert encoder.calls == 3 and not list(tmp_path.glob(".*.tmp"))


def test_dense_retriever_equals_brute_force_cosine(tmp_path):
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(30)]
    docs = [" ".join(rng.choice(words, int(rng.integers(1, 8)))) for _ in range(60)]
    queries = [" ".join(rng.choice(words, 3)) for _ in range(12)]
    encoder = HashEncoder()
    retriever = DenseRetriever(encoder, cache_dir=str(tmp_path), progress=False).index(
        docs, [f"d{i}" for i in range(60)]
    )
    results = retriever.search(queries, k=5)
    d, q = encoder.encode(docs).astype(np.float64), encoder.encode(queries).astype(np.float64)
    scores = q @ d.T
    for row, (indices, values) in enumerate(zip(results.indices, results.scores, strict=True)):
        expected = sorted(range(60), key=lambda i, r=row: (-round(scores[r, i], 5), i))[:5]
        assert indices.tolist() == expected
        np.testing.assert_allclose(values, scores[row, expected], atol=1e-5)
    assert retriever.search(queries, k=500).indices.shape == (12, 60)


@pytest.fixture(scope="module")
def minilm():
    return minilm_or_skip()


def minilm_or_skip():
    from infomix.data.errors import DataError

    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from infomix.retrieval.minilm import MiniLM

    try:
        return MiniLM()
    except DataError as exc:
        pytest.skip(str(exc))


TEXTS = [
    "Boundary layer transition on a swept wing.",
    "",
    "naïve café Straße λόγος 42",
    "Heat transfer to a blunt body in hypersonic flow, " * 4,
]


def test_minilm_unit_norm_and_batch_invariant(minilm):
    model = minilm
    together = model.encode(TEXTS, batch_size=8, progress=False)
    alone = np.concatenate([model.encode([t], progress=False) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    raw = model.encode(TEXTS, progress=False, normalize=False)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), together, atol=1e-5)
    assert model.tokenize(["the " * 300])[0].shape[1] == 256
    tokens = model.token_embeddings(TEXTS[:1], progress=False)[0]
    assert tokens.shape[1] == 384 and torch.allclose(tokens.norm(dim=1), torch.ones(len(tokens)), atol=1e-5)


def test_minilm_agrees_with_sentence_transformers(minilm):
    model = minilm
    st = pytest.importorskip("sentence_transformers")
    theirs = st.SentenceTransformer(str(model.folder), device="cpu").encode(TEXTS, batch_size=2)
    np.testing.assert_allclose(model.encode(TEXTS, progress=False), theirs, atol=1e-5)


def test_cli_dense_eval_index_search(tmp_path, minilm):
    from click.testing import CliRunner

    from infomix.retrieval.cli import retrieval_group

    folder = tmp_path / "toy"
    folder.mkdir()
    docs = {"a": "shock waves on swept wings", "b": "heat transfer in boundary layers", "c": "panel flutter"}
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in docs.items()))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "heating of the boundary layer"}))
    (folder / "qrels.jsonl").write_text(json.dumps({"query-id": "q", "corpus-id": "b", "score": 1}))
    run = CliRunner().invoke
    cache = f"cache_dir={tmp_path}/c"
    out = run(retrieval_group, ["eval", str(folder), "--retriever", "dense", "-k", "3", "--json", "-p", cache],
              catch_exceptions=False)  # fmt: skip
    assert json.loads(out.output)["metrics"]["MRR@10"] == 1.0
    run(
        retrieval_group,
        [
            "index",
            str(folder),
            "--out",
            str(tmp_path / "ix"),
            "--retriever",
            "dense",
            "-p",
            "index=faiss-flat" if _has_faiss() else "index=exact",
            "-p",
            f"cache_dir={tmp_path}/c",
        ],
        catch_exceptions=False,
    )
    out = run(retrieval_group, ["search", str(tmp_path / "ix"), str(folder), "-k", "3", "--json"],
              catch_exceptions=False)  # fmt: skip
    assert json.loads(out.output)["metrics"]["MRR@10"] == 1.0


def _has_faiss() -> bool:
    import importlib.util

    return importlib.util.find_spec("faiss") is not None


def test_dense_save_load_with_a_trained_encoder_folder(tmp_path):
    from infomix.core.threads import torch_threads
    from infomix.retrieval.contrastive import train_contriever

    texts = [f"topic{t} " + " ".join(f"w{t}_{i % 5} x{i % 3}" for i in range(12)) for t in range(16)]
    with torch_threads(1):
        encoder, _ = train_contriever(texts, steps=3, batch_size=4, dim=16, n_layers=1, n_heads=2, warmup=1,
                                      progress=False)  # fmt: skip
    encoder.save(tmp_path / "enc")
    for index in ("exact", "faiss-flat") if _has_faiss() else ("exact",):
        retriever = DenseRetriever(str(tmp_path / "enc"), index, cache_dir=str(tmp_path / "c"), progress=False)
        retriever.index(texts, [f"d{i}" for i in range(16)])
        before = retriever.search(texts[:4], k=3)
        retriever.save(tmp_path / index)
        after = DenseRetriever.load(tmp_path / index).search(texts[:4], k=3)
        np.testing.assert_array_equal(before.indices, after.indices)
        np.testing.assert_allclose(before.scores, after.scores, atol=1e-6)
        assert before.indices[:, 0].tolist() == [0, 1, 2, 3]  # each text finds itself first


def test_dense_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown index"):
        DenseRetriever(HashEncoder(), "annoy")
    with pytest.raises(TypeError, match="encoder must be"):
        DenseRetriever(object())
    with pytest.raises(RuntimeError, match="no index"):
        DenseRetriever(HashEncoder()).search(["q"])
    with pytest.raises(ValueError, match="duplicate doc id"):
        DenseRetriever(HashEncoder(), cache=False).index(["a", "b"], ["x", "x"])
