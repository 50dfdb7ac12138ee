"""Atomic writes: the target is replaced whole or not at all, and no temporary file is left behind."""

from __future__ import annotations

import os

import pytest

from infomix.core import io as store


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
