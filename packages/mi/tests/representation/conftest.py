"""Every representation test trains tiny models: one intra-op thread is fastest and avoids oversubscription."""

import pytest

torch = pytest.importorskip("torch")

from infomix.core.threads import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield
