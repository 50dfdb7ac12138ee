"""IDX files and the Fashion-MNIST image set: decoding, the pinned package's member selection, bad files."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from infomix.data.catalog import FASHION_MNIST, FASHION_MNIST_DIR, FASHION_MNIST_FILES
from infomix.data.errors import DataError
from infomix.data.images import FashionMNIST, read_idx
from infomix.data.images.idx import parse_idx
from infomix.data.sources import FileSource

from .conftest import fetch_or_skip, make_deb


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 0x08), (np.int16, 0x0B), (np.int32, 0x0C), (np.float64, 0x0E)])
def test_idx_round_trip(tmp_path, dtype, code):
    rng = np.random.default_rng(code)
    array = (rng.normal(size=(7, 3, 5)) * 100).astype(dtype)
    raw = idx_bytes(array, code)
    np.testing.assert_array_equal(parse_idx(raw), array)
    path = tmp_path / "a-idx3.gz"
    path.write_bytes(gzip.compress(raw))
    out = read_idx(path)
    np.testing.assert_array_equal(out, array)
    assert out.dtype.isnative


def test_bad_idx_files_are_clear_errors():
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x1f\x00" + good[2:], "x.idx")
    with pytest.raises(DataError, match=r"promises \(3, 4\)"):
        parse_idx(good[:-1], "x.idx")
    with pytest.raises(DataError, match="truncated"):
        parse_idx(good[:6], "x.idx")


def fake_package(tmp_path, images_per_split):
    rng = np.random.default_rng(0)
    files = {}
    for split, n in images_per_split.items():
        files[f"{FASHION_MNIST_DIR}{split}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), 0x08)
        )
        files[f"{FASHION_MNIST_DIR}{split}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 10, size=n, dtype=np.uint8), 0x08)
        )
    files["usr/share/doc/dataset-fashion-mnist/README.md.gz"] = gzip.compress(b"readme")
    deb = make_deb(tmp_path / "fm.deb", files)
    source = FileSource(
        "dataset-fashion-mnist-test",
        "fm.deb",
        hashlib.sha256(deb.read_bytes()).hexdigest(),
        select=FASHION_MNIST.select,
        path=str(deb),
    )
    return FashionMNIST(source=source), files


def test_prepare_extracts_only_the_idx_files_and_load_checks_sizes(cache, tmp_path):
    data, files = fake_package(tmp_path, {"train": 5, "t10k": 3})
    folder = data.prepare()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.rsplit("/", 1)[1] for f in FASHION_MNIST_FILES)
    for name in FASHION_MNIST_FILES:
        assert (folder / name.rsplit("/", 1)[1]).read_bytes() == files[name]
    with pytest.raises(DataError, match="expected 10000 28x28 images"):
        data.load("test")
    with pytest.raises(ValueError, match="split must be one of train, test"):
        data.load("valid")
    assert data.info()["kind"] == "data.images"


def test_fashion_mnist_is_a_registered_component():
    from infomix.core import get_registry

    component = get_registry().get("data.images", "fashion-mnist")
    assert isinstance(component.create(), FashionMNIST)


@pytest.mark.network
def test_fashion_mnist_real(real_cache):
    data = FashionMNIST()
    images, labels = fetch_or_skip(data.load, "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10
    assert labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    train_images, train_labels = data.load("train")
    assert train_images.shape == (60_000, 28, 28) and np.bincount(train_labels).tolist() == [6000] * 10
    assert 0 < images.mean() < 255 and images.max() == 255
