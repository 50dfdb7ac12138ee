"""Cache location, sha256 helpers and atomic writes."""

from __future__ import annotations

import hashlib
import os

import pytest

from infomix.data import cache as store


def test_cache_root_follows_env(cache, tmp_path):
    assert store.cache_root() == cache
    assert store.cache_dir("a", "b") == cache / "a" / "b"
    assert (cache / "a" / "b").is_dir()


def test_cache_root_default(monkeypatch, tmp_path):
    monkeypatch.delenv("INFOMIX_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store.cache_root() == tmp_path / ".cache" / "infomix"


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read blocks
    path = tmp_path / "f"
    path.write_bytes(data)
    assert store.sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_tree_sha256_order_free_and_content_sensitive(tmp_path, random_files):
    for name, data in random_files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    names = list(random_files)
    h = store.tree_sha256(tmp_path, names)
    assert h == store.tree_sha256(tmp_path, reversed(names)) == store.tree_sha256(tmp_path)
    (tmp_path / names[1]).write_bytes(random_files[names[1]] + b"x")
    assert store.tree_sha256(tmp_path, names) != h
    assert store.tree_sha256(tmp_path, names[:-1]) != store.tree_sha256(tmp_path, names)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    data = os.urandom(100)
    store.atomic_write_bytes(target, data)
    assert target.read_bytes() == data
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_file_keeps_old_content_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def interrupted_write():
        with store.atomic_file(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted_write()
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    target = tmp_path / "d"
    with store.atomic_dir(target) as tmp:
        (tmp / "x").write_text("1")
    assert (target / "x").read_text() == "1"

    def interrupted_fill():
        with store.atomic_dir(target) as tmp:
            (tmp / "y").write_text("2")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        interrupted_fill()
    assert sorted(os.listdir(target)) == ["x"]
    assert sorted(os.listdir(tmp_path)) == ["d"]
    with store.atomic_dir(target) as tmp:
        (tmp / "z").write_text("3")
    assert sorted(os.listdir(target)) == ["z"]
    assert sorted(os.listdir(tmp_path)) == ["d"]
