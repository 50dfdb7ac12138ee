"""Tokenizers that work offline: GPT-2 byte-level BPE (tiktoken or `tokenizers`), raw bytes, and BPE training."""

from __future__ import annotations

from infomix.data.tokenize.bpe import BPETokenizer, train_bpe
from infomix.data.tokenize.byte import ByteTokenizer
from infomix.data.tokenize.gpt2 import gpt2_files, gpt2_tiktoken, gpt2_tokenizers

__all__ = ["BPETokenizer", "ByteTokenizer", "gpt2_files", "gpt2_tiktoken", "gpt2_tokenizers", "train_bpe"]
