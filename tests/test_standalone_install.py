"""Each domain distribution installs alone with core into a fresh venv and works there.

Needs the wheels `nox -s tests` builds (INFOMIX_WHEELHOUSE); skipped without them. To save minutes,
torch comes from one shared `pip install --target` directory added to each venv by a .pth file; every
other dependency resolves from the package index as it would for a user.
"""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch

PACKAGES = ["mi", "mixing", "moe", "compression", "retrieval"]
WHEELHOUSE = os.environ.get("INFOMIX_WHEELHOUSE")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not WHEELHOUSE, reason="set INFOMIX_WHEELHOUSE to a folder of built wheels (nox -s tests)"),
]


def wheel(name: str) -> str:
    found = sorted(Path(WHEELHOUSE).glob(f"{name.replace('-', '_')}-*.whl"))
    assert found, f"no wheel for {name} in {WHEELHOUSE}"
    return str(found[-1])


@pytest.fixture(scope="module")
def torch_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("torch-site")
    version = torch.__version__
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target), f"torch=={version}"],
                   check=True)  # fmt: skip
    return target


@pytest.mark.parametrize("package", PACKAGES)
def test_installs_alone_with_core(package, tmp_path, torch_site):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "torch-site.pth").write_text(f"{torch_site}\n")
    subprocess.run([python, "-m", "pip", "install", "-q", wheel("infomix"), wheel(f"infomix-{package}")], check=True)
    others = [p for p in PACKAGES if p != package]
    script = f"""
import importlib, importlib.util, json
from infomix.core import get_registry
importlib.import_module("infomix.{package}")
assert importlib.util.find_spec("infomix").origin in (None, "namespace")
for other in {others!r}:
    assert importlib.util.find_spec("infomix." + other) is None, other
components = [c for c in get_registry() if c.distribution == "infomix-{package}"]
assert components, "no component registered"
for c in components:
    if not any(p.required for p in c.params):
        try:
            c.create()
        except ImportError as err:  # a component of an optional extra must say how to install it
            assert "pip install" in str(err), (c.key, str(err))
print(json.dumps([c.key for c in components]))
"""
    out = subprocess.run([python, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    keys = json.loads(out.stdout)
    assert keys and all(key.startswith(f"{package}.") for key in keys), keys
    cli = subprocess.run([env_dir / "bin" / "infomix", "list", "--json"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
