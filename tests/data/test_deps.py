"""Optional libraries: infomix.data imports without them, and using them without them names the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from infomix.data.deps import require
from infomix.data.errors import MissingDependency


def test_require_names_the_extra():
    with pytest.raises(MissingDependency, match=r"pip install 'infomix\[data\]'") as err:
        require("rdata_is_not_a_real_module", "testing")
    assert isinstance(err.value, ImportError)


def test_data_package_works_without_optional_libraries(tmp_path):
    script = textwrap.dedent("""
        import importlib.abc, sys
        BLOCKED = {"rdata", "tiktoken", "tiktoken_ext", "tokenizers", "regex", "transformers",
                   "sentence_transformers", "gguf", "accelerate", "yaml"}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, Block())
        from infomix.core.plugins import PluginHost
        import infomix.data.plugin as plugin
        from infomix.data import commands, mixture, models
        from infomix.data.ir import load_cranfield
        from infomix.data.tokenize import ByteTokenizer, gpt2_tiktoken
        host = PluginHost()
        host.add_plugin(plugin, "data")
        keys = sorted(c.key for c in host.registry)
        assert "data.corpus:prose" in keys and "data.collection:cranfield" in keys, keys
        from infomix.data.domains.prose import read_lazyload
        try:
            read_lazyload(__import__("pathlib").Path("nowhere/Rdata"))
        except ImportError as exc:
            print("ERR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR the prose domain (reading R data) needs the 'rdata' library: pip install 'infomix[data]'" in out.stdout
