"""Import optional third-party libraries with an error that says how to install them."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from infomix.data.errors import MissingDependency

# module name -> (pip requirement, extra of the `infomix` distribution that provides it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "rdata": ("rdata>=0.11", "data"),
    "tiktoken": ("tiktoken>=0.7", "data"),
    "tokenizers": ("tokenizers>=0.19", "data"),
    "regex": ("regex>=2023", "data"),
    "transformers": ("transformers>=4.45", "models"),
    "gguf": ("gguf>=0.10", "models"),
    "accelerate": ("accelerate>=0.30", "models"),
    "sentence_transformers": ("sentence-transformers>=3", "models"),
}


def install_hint(module: str) -> str:
    requirement, extra = OPTIONAL.get(module, (module, "data"))
    return f"pip install 'infomix[{extra}]' (or: pip install '{requirement}')"


def has(module: str) -> bool:
    """True when `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` or raise MissingDependency naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(f"{purpose} needs the '{module}' library: {install_hint(module)}") from exc
