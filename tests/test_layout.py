"""The monorepo's contracts: one PEP 420 namespace, entry points = DEFAULT_PLUGINS, compatible pins."""

import importlib
import importlib.util
import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["mi", "mixing", "moe", "compression", "retrieval"]
DISTS = {"infomix": ("infomix.core._builtins", ROOT)} | {
    f"infomix-{p}": (f"infomix.{p}._builtins", ROOT / "packages" / p) for p in PACKAGES
}


def test_no_distribution_ships_infomix_init():
    roots = [ROOT / "src" / "infomix", *(ROOT / "packages" / p / "src" / "infomix" for p in PACKAGES)]
    for root in roots:
        assert root.is_dir(), f"missing {root}"
        assert not (root / "__init__.py").exists(), f"{root}/__init__.py breaks the PEP 420 namespace"
    spec = importlib.util.find_spec("infomix")
    assert spec is not None and spec.origin in (None, "namespace"), "infomix must be a namespace package"


@pytest.mark.parametrize("dist", list(DISTS))
def test_installed_wheel_has_no_namespace_init(dist):
    try:
        files = distribution(dist).files or []
    except PackageNotFoundError:
        pytest.skip(f"{dist} is not installed")
    assert not [f for f in files if str(f) == "infomix/__init__.py"]


@pytest.mark.parametrize("dist", list(DISTS))
def test_entry_points_are_the_default_plugins(dist):
    module, root = DISTS[dist]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["infomix"]
    defaults = importlib.import_module(module).DEFAULT_PLUGINS
    assert sorted(declared.values()) == sorted(defaults)
    assert all(name == value for name, value in declared.items()), "name built-in entry points after their module"
    try:
        installed = {ep.value for ep in distribution(dist).entry_points if ep.group == "infomix"}
    except PackageNotFoundError:
        return
    assert installed == set(defaults), f"{dist} is installed from an older tree: reinstall it"


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_pin_core_compatibly_and_document_themselves(package):
    project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    core_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    pins = [d for d in project["dependencies"] if re.match(r"infomix\s*~=", d)]
    assert pins, f"infomix-{package} must depend on infomix with a compatible-release pin"
    major_minor = ".".join(core_version.split(".")[:2])
    assert major_minor in pins[0]
    assert (ROOT / "packages" / package / "README.md").exists()
    assert f"infomix-{package}" in (ROOT / "README.md").read_text(), "each package has a README section"
    assert list((ROOT / "packages" / package / "tests").glob("test_*.py"))
