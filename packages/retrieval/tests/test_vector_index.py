"""Vector indexes: exact search equals brute force, faiss flat equals exact, IVF/HNSW recall, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from infomix.retrieval.vector_index import ExactIndex, load_index, make_index, top_k_rows


def brute_force(x: np.ndarray, q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    scores = q64 @ x64.T if metric == "ip" else -((q64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
    order = np.stack([sorted(range(len(x)), key=lambda i, r=r: (-r[i], i))[:k] for r in scores])
    return np.take_along_axis(scores, order, 1), order


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("k", [1, 7, 300])
def test_exact_search_equals_brute_force(metric, k):
    rng = np.random.default_rng(11)
    x, q = rng.normal(size=(257, 24)).astype(np.float32), rng.normal(size=(19, 24)).astype(np.float32)
    scores, indices = ExactIndex(metric, block=8).add(x[:100]).add(x[100:]).search(q, k)
    ref_scores, ref_indices = brute_force(x, q, min(k, 257), metric)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-4)


def test_top_k_breaks_ties_by_index():
    scores = np.array([[1.0, 3.0, 3.0, 0.5, 3.0, 2.0]])
    values, indices = top_k_rows(scores, 3)
    assert indices.tolist() == [[1, 2, 4]] and values.tolist() == [[3.0, 3.0, 3.0]]
    assert top_k_rows(scores, 4)[1].tolist() == [[1, 2, 4, 5]]


def test_bad_input_is_named():
    index = ExactIndex().add(np.ones((3, 4)))
    with pytest.raises(ValueError, match="dim 4"):
        index.search(np.ones((2, 5)), 1)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, 4), np.nan), 1)
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones((1, 4)), 0)
    with pytest.raises(ValueError, match="unknown index"):
        make_index("annoy")


def test_exact_save_load(tmp_path):
    rng = np.random.default_rng(3)
    x, q = rng.normal(size=(50, 8)), rng.normal(size=(5, 8))
    index = ExactIndex().add(x)
    index.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    for a, b in zip(index.search(q, 5), loaded.search(q, 5), strict=True):
        np.testing.assert_array_equal(a, b)


faiss = pytest.importorskip("faiss")


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_faiss_flat_equals_exact(metric):
    rng = np.random.default_rng(5)
    x, q = rng.normal(size=(400, 32)).astype(np.float32), rng.normal(size=(30, 32)).astype(np.float32)
    exact_scores, exact_indices = ExactIndex(metric).add(x).search(q, 10)
    scores, indices = make_index("faiss-flat", metric=metric).add(x).search(q, 10)
    np.testing.assert_array_equal(indices, exact_indices)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-4, atol=1e-3)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize(("name", "params", "threshold"), [
    ("faiss-ivf", {"nlist": 16, "nprobe": 4}, 0.8),
    ("faiss-hnsw", {"M": 16, "ef_search": 64}, 0.9),
])  # fmt: skip
def test_approximate_indexes_recall(name, params, threshold):
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(16, 32))
    x = (centres[rng.integers(0, 16, 3000)] + 0.5 * rng.normal(size=(3000, 32))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(3000, 50, replace=False)] + 0.05 * rng.normal(size=(50, 32)).astype(np.float32)
    truth = ExactIndex().add(x).search(q, 10)[1]
    found = make_index(name, **params).add(x).search(q, 10)[1]
    assert recall(found, truth) >= threshold
    if name == "faiss-ivf":  # probing every cell is exhaustive
        full = make_index(name, nlist=16, nprobe=16).add(x).search(q, 10)[1]
        assert recall(full, truth) == 1.0


@pytest.mark.parametrize("name", ["faiss-flat", "faiss-ivf", "faiss-hnsw"])
def test_faiss_save_load(tmp_path, name):
    rng = np.random.default_rng(4)
    x, q = rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(7, 16)).astype(np.float32)
    index = make_index(name, nlist=4).add(x)
    index.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    np.testing.assert_array_equal(index.search(q, 5)[1], loaded.search(q, 5)[1])
