"""Learned sparse retrieval: log(1+ReLU) weights, the FLOPS regulariser and its ramp, inverted-index scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infomix.core.threads import torch_threads
from infomix.retrieval.learned_sparse import (
    LearnedSparse,
    SparseDocEncoder,
    flops,
    flops_weight,
    log_relu,
    lucene_idf,
)
from infomix.retrieval.small_encoder import EncoderConfig, pad_ids


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # tiny models: extra threads only wait for each other
        yield


def test_log_relu_nonnegative_and_closed_form():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4
    y = log_relu(x)
    assert (y >= 0).all() and (y[x <= 0] == 0).all()
    torch.testing.assert_close(y[x > 0], torch.log(1 + x[x > 0]))


def test_flops_hand_case_and_ramp():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]], dtype=torch.float64)
    # column means 2, 0, 1 -> 4 + 0 + 1
    assert flops(w).item() == pytest.approx(5.0)
    rng = np.random.default_rng(1)
    dense = np.abs(rng.normal(size=(7, 13)))
    assert flops(torch.from_numpy(dense)).item() == pytest.approx(float((dense.mean(0) ** 2).sum()))
    assert flops_weight(0, 0.5, 10) == 0.0
    assert flops_weight(5, 0.5, 10) == pytest.approx(0.125)
    assert flops_weight(10, 0.5, 10) == flops_weight(99, 0.5, 10) == 0.5
    assert flops_weight(3, 0.5, 0) == 0.5


def test_flops_gradient_matches_autograd():
    w = torch.rand(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(flops, (w,))


def test_doc_encoder_weights_nonnegative_and_pad_invariant():
    torch.manual_seed(0)
    model = SparseDocEncoder(EncoderConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, max_length=20)).eval()
    seqs = [[5, 9, 9, 30], [7, 8], [40, 41, 42, 43, 44, 45, 46]]
    ids, mask = pad_ids(seqs, 20)
    with torch.no_grad():
        w = model(ids, mask)
        alone = torch.cat([model(*pad_ids([s], 20)) for s in seqs])
    assert (w >= 0).all() and (w[:, :2] == 0).all()  # PAD and UNK carry no weight
    torch.testing.assert_close(w, alone, atol=1e-5, rtol=1e-5)
    # at initialisation every document term has weight > 0
    for row, s in enumerate(seqs):
        assert (w[row, s] > 0).all()


def test_lucene_idf_closed_form():
    assert lucene_idf(np.array([1]), 10)[0] == pytest.approx(np.log(1 + 9.5 / 1.5))


DOCS = ["shock wave interaction with a turbulent boundary layer on a flat plate",
        "heat transfer rates to a blunt body in hypersonic flow",
        "flutter of thin panels at supersonic speeds", "boundary layer transition on swept wings",
        "pressure distribution on a cone at incidence", "laminar flow heat transfer near stagnation point",
        "buckling of thin cylindrical shells under axial compression", "slender wing theory at supersonic speed",
        "viscous hypersonic flow over a wedge", "transition in the boundary layer of a heated plate"] * 2  # fmt: skip


def test_inverted_index_scores_equal_dense_dot_products(tmp_path):
    retriever = LearnedSparse(steps=3, batch_size=4, dim=16, n_heads=2, span_min=1, span_max=2, progress=False)
    retriever.index(DOCS, [f"d{i}" for i in range(len(DOCS))])
    weights = retriever.doc_weights(DOCS).toarray().astype(np.float64)
    assert (weights >= 0).all()
    queries = ["boundary layer heat heat", "hypersonic wedge flow", "unknownterm supersonic"]
    vocab = retriever.vocabulary
    for query in queries:
        one_hot = np.zeros(len(vocab))
        for term in set(vocab.tokenizer(query)):
            if term in vocab.ids:
                one_hot[vocab.ids[term]] = 1.0
        expected = weights @ (one_hot * retriever.idf)
        np.testing.assert_allclose(retriever.scores(query), expected, rtol=1e-5, atol=1e-6)
        top = retriever.search([query], k=5)
        np.testing.assert_allclose(top.scores[0], np.sort(expected)[::-1][:5], rtol=1e-5, atol=1e-6)
    retriever.save(tmp_path / "ls")
    loaded = LearnedSparse.load(tmp_path / "ls")
    np.testing.assert_array_equal(loaded.search(queries, 4).indices, retriever.search(queries, 4).indices)


def test_training_reduces_loss_and_flops_shrinks_docs():
    common = {"batch_size": 8, "dim": 16, "n_heads": 2, "span_min": 1, "span_max": 3, "lr": 5e-3,
              "progress": False, "steps": 20}  # fmt: skip
    loose = LearnedSparse(flops_lambda=0.0, **common).fit(DOCS * 2)
    tight = LearnedSparse(flops_lambda=5.0, flops_ramp=5, **common).fit(DOCS * 2)
    assert tight.log[-1]["nnz"] < loose.log[-1]["nnz"]
    assert all(np.isfinite(row["rank"]) for row in loose.log + tight.log)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="span_min"):
        LearnedSparse(span_min=5, span_max=2)
    with pytest.raises(ValueError, match="steps"):
        LearnedSparse(steps=-1)
    with pytest.raises(RuntimeError, match="no index"):
        LearnedSparse().search(["x"])


def test_cli_learned_sparse_index_and_search(tmp_path):
    import json

    from click.testing import CliRunner

    from infomix.retrieval.cli import retrieval_group

    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": f"d{i}", "text": t}) for i, t in enumerate(DOCS)))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "flutter of thin panels"}))
    (folder / "qrels.jsonl").write_text(json.dumps({"query-id": "q", "corpus-id": "d2", "score": 1}))
    params = ["--retriever", "learned-sparse", "-p", "steps=2", "-p", "batch_size=4", "-p", "dim=8", "-p", "n_heads=2"]
    run = CliRunner().invoke
    run(retrieval_group, ["index", str(folder), "--out", str(tmp_path / "ix"), *params], catch_exceptions=False)
    out = run(retrieval_group, ["search", str(tmp_path / "ix"), str(folder), "-k", "3", "--json"],
              catch_exceptions=False)  # fmt: skip
    assert json.loads(out.output)["metrics"]["MRR@10"] == 1.0
