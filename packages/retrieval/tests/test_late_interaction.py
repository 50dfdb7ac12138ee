"""MaxSim: agreement with a loop over tokens, padding invariance, pre-filter recall, validation."""

import pytest
import torch

from infomix.retrieval.late_interaction import LateInteractionIndex, maxsim, pad_tokens


def loop_maxsim(query, doc):
    return sum(max(float(q @ d) for d in doc) for q in query)


@pytest.fixture
def docs():
    gen = torch.Generator().manual_seed(0)
    return [
        torch.nn.functional.normalize(torch.randn(int(n), 16, generator=gen), dim=1)
        for n in torch.randint(3, 12, (37,), generator=gen)
    ]


def test_matches_loops_with_ragged_lengths(docs):
    queries = [torch.randn(n, 16) for n in (4, 7, 1)]
    q, q_mask = pad_tokens(queries)
    d, d_mask = pad_tokens(docs)
    scores = maxsim(q, q_mask, d, d_mask, chunk=5)
    for i, query in enumerate(queries):
        for j, doc in enumerate(docs):
            assert float(scores[i, j]) == pytest.approx(loop_maxsim(query, doc), rel=1e-5, abs=1e-5)


def test_search_and_prefilter(docs):
    index = LateInteractionIndex(docs)
    query = docs[5][:3] + 0.05 * torch.randn(3, 16)
    ids, scores = index.search(query, k=5)
    assert int(ids[0]) == 5
    assert torch.all(scores[:-1] >= scores[1:])
    every = index.search(query, k=5, candidates_per_token=index.flat.shape[0])
    assert torch.equal(every[0], ids)
    few = index.search(query, k=1, candidates_per_token=2)
    assert int(few[0][0]) == 5


def test_validation(docs):
    with pytest.raises(ValueError, match="same dim"):
        pad_tokens([torch.randn(2, 4), torch.randn(2, 5)])
    index = LateInteractionIndex(docs)
    with pytest.raises(ValueError, match="k must be"):
        index.search(torch.randn(2, 16), k=100)
    with pytest.raises(ValueError, match="embedding dim"):
        maxsim(torch.randn(1, 2, 8), torch.ones(1, 2, dtype=torch.bool), index.docs, index.mask)
