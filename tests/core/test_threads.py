"""torch_threads: sets the intra-op thread count inside the block and restores it, even on error."""

import pytest
import torch

from infomix.core.threads import torch_threads


def test_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_rejects_bad_counts():
    with pytest.raises(ValueError, match="positive integer"), torch_threads(0):
        pass
