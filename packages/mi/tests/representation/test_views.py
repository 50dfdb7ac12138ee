"""Paired views: image halves, aligned batches, the Gaussian pairs' MI and dependence, and bad input."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infomix.mi.representation.datasets import GaussianViews, digits_halves, load_views  # noqa: E402
from infomix.mi.representation.views import ViewSplit, image_halves, paired  # noqa: E402


def test_image_halves_are_the_top_and_bottom_rows():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 6, 5), dtype=np.uint8)
    labels = rng.integers(0, 3, size=12)
    views = image_halves(images, labels)
    assert views.first.shape == (12, 1, 3, 5) and views.second.shape == (12, 1, 3, 5)
    np.testing.assert_allclose(views.first[:, 0].numpy(), images[:, :3] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(views.second[:, 0].numpy(), images[:, 3:] / 255.0, rtol=1e-6)
    assert views.labels.tolist() == labels.tolist()


def test_sample_keeps_pairs_aligned():
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    views = paired(x, 2 * x + 1, torch.arange(40))
    u, v = views.sample(16, torch.Generator().manual_seed(2))
    torch.testing.assert_close(v, 2 * u + 1)
    assert len({tuple(r) for r in u.tolist()}) == 16  # distinct rows
    batches = list(views.batches(16))
    assert len(batches) == 2 and torch.equal(batches[1][0], x[16:32])


def test_digits_halves_rebuild_the_images():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    split = digits_halves(test_size=300, seed=4)
    assert (len(split.train), len(split.test)) == (1497, 300)
    assert split.train.shapes == ((1, 4, 8), (1, 4, 8))
    whole = torch.cat([split.train.first, split.train.second], dim=2)[:, 0] * 16
    pool = {tuple(img.flatten().round().int().tolist()) for img in torch.as_tensor(load_digits().images)}
    assert all(tuple(img.flatten().round().int().tolist()) in pool for img in whole[:50])


def test_gaussian_pairs_true_mi_and_batch_dependence():
    source = GaussianViews(iid=True)
    assert source.mutual_information == pytest.approx(-0.5 * math.log(1 - 0.2**2), abs=1e-12)
    assert source.mutual_information == pytest.approx(0.0204, abs=5e-5)
    x, y = source.sample(200_000, torch.Generator().manual_seed(0))
    assert float(torch.corrcoef(torch.cat([x, y], 1).T)[0, 1]) == pytest.approx(0.2, abs=0.01)
    # with one z shared by the batch, the within-batch correlation is the noise's (0.9)
    x, y = GaussianViews(iid=False).sample(200_000, torch.Generator().manual_seed(1))
    assert float(torch.corrcoef(torch.cat([x, y], 1).T)[0, 1]) == pytest.approx(0.9, abs=0.01)
    train, test = load_views("gaussian-noniid")
    assert not train.iid and train is test


def test_bad_views_are_clear_errors():
    with pytest.raises(ValueError, match="same number of rows: first has 5, second has 4"):
        paired(np.ones((5, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="labels must have shape"):
        paired(np.random.rand(5, 2), np.random.rand(5, 2), np.arange(4))
    with pytest.raises(ValueError, match="1 NaN"):
        paired(np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones((2, 1)))
    with pytest.raises(ValueError, match="even height"):
        image_halves(np.random.rand(3, 5, 4))
    with pytest.raises(ValueError, match=r"shape \[N, H, W\]"):
        image_halves(np.random.rand(3, 4))
    views = paired(np.random.rand(6, 2), np.random.rand(6, 2))
    with pytest.raises(ValueError, match="batch size must be in"):
        views.sample(7, torch.Generator())
    with pytest.raises(ValueError, match="differ in shape"):
        ViewSplit("x", views, paired(np.random.rand(6, 3), np.random.rand(6, 2)))
    with pytest.raises(ValueError, match="unknown view data 'mnist'"):
        load_views("mnist")


def test_package_exports_resolve():
    import infomix.mi.representation as rep

    for name in rep.__all__:
        assert getattr(rep, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        rep.Nope  # noqa: B018
