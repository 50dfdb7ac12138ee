"""Cache location, sha256 helpers and atomic writes."""

from __future__ import annotations

import hashlib
import os

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
