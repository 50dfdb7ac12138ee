"""A byte-level tokenizer for tiny LMs: ids 0-255 are UTF-8 bytes, special tokens follow."""

from __future__ import annotations

from collections.abc import Sequence


class ByteTokenizer:
    """UTF-8 bytes as token ids (0-255); special tokens get ids 256, 257, ... in the order given."""

    def __init__(self, specials: Sequence[str] = ("<|endoftext|>",)) -> None:
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be distinct, got {list(specials)}")
        self.specials = {s: 256 + i for i, s in enumerate(specials)}
        self.eot = self.specials.get("<|endoftext|>")

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.specials)

    def encode(self, text: str, add_eot: bool = False) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = list(text.encode("utf-8"))
        if add_eot:
            if self.eot is None:
                raise ValueError("add_eot=True but this tokenizer has no '<|endoftext|>' special token")
            ids.append(self.eot)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Bytes back to text (invalid UTF-8 is replaced); special ids become their token strings."""
        names = {v: k for k, v in self.specials.items()}
        out, buf = [], bytearray()
        for i in ids:
            i = int(i)
            if 0 <= i < 256:
                buf.append(i)
            elif i in names:
                out.append(buf.decode("utf-8", errors="replace") + names[i])
                buf = bytearray()
            else:
                raise ValueError(f"token id {i} is outside this tokenizer's vocabulary (0..{self.vocab_size - 1})")
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)
