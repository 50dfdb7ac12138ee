"""Linear probe: separable classes are learned, shuffled labels are not, bad features are reported."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")

from infomix.mi.representation.probe import encode, linear_probe  # noqa: E402


def clusters(n, seed, spread):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(5, 8)) * 3
    labels = rng.integers(0, 5, size=n)
    return centres[labels] + spread * rng.normal(size=(n, 8)), labels


def test_probe_separates_clusters_and_not_shuffled_labels():
    (xa, ya), (xb, yb) = clusters(600, 0, 0.5), clusters(400, 1, 0.5)
    result = linear_probe(xa, ya, xb, yb, solver="lbfgs", tol=1e-4, max_iter=500)
    assert result.accuracy > 0.95 and result.converged and (result.n_train, result.n_test) == (600, 400)
    shuffled = np.random.default_rng(2).permutation(ya)
    assert linear_probe(xa, shuffled, xb, yb, solver="lbfgs", tol=1e-4, max_iter=500).accuracy < 0.4


def test_encode_runs_batches_without_gradients_and_restores_mode():
    net = torch.nn.Linear(3, 2).train()
    x = torch.randn(2500, 3, generator=torch.Generator().manual_seed(0))
    out = encode(net, x, batch_size=1000)
    np.testing.assert_allclose(out, net(x).detach().numpy(), rtol=1e-6)
    assert net.training


def test_bad_probe_input_is_a_clear_error():
    x, y = clusters(50, 3, 1.0)
    with pytest.raises(ValueError, match="train features have 50 rows but train labels have 49"):
        linear_probe(x, y[:49], x, y)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="test features contain NaN"):
        linear_probe(x, y, bad, y)
    with pytest.raises(ValueError, match="differ in width"):
        linear_probe(x, y, x[:, :3], y)
