"""Developer and CI tasks: tests, lint, bench, demo, cuda_compile, gpu (run `nox -l` to list them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
PACKAGES = ["mi", "mixing", "moe", "compression", "retrieval"]
TORCH_VERSION = "2.13.0"
# Which torch wheel a fresh session installs: `cpu` (default) or a CUDA build. Choose with
# INFOMIX_TORCH=cu128 nox -s tests, or sweep with `nox -s tests_matrix`.
TORCH_VARIANTS = {
    "cpu": None,
    "cu126": "https://download.pytorch.org/whl/cu126",
    "cu128": "https://download.pytorch.org/whl/cu128",
    "cu130": "https://download.pytorch.org/whl/cu130",
}
CMAKE_MINIMUM = (3, 25)
BUILD_TOOLS = ["scikit-build-core>=0.10", "hatchling>=1.25", "ninja"]
TEST_TOOLS = [
    "pytest>=8",
    "scipy>=1.11",
    "matplotlib>=3.7",
    "ir-measures>=0.3",
    "safetensors>=0.4",
    "pyarrow>=14",
    "scikit-learn>=1.3",
]


def install_torch(session: nox.Session, variant: str | None = None) -> None:
    """Install the chosen torch build first, so nothing later pulls a different one."""
    variant = variant or os.environ.get("INFOMIX_TORCH", "cpu")
    if variant not in TORCH_VARIANTS:
        session.error(f"INFOMIX_TORCH must be one of {', '.join(TORCH_VARIANTS)}, got {variant!r}")
    index = os.environ.get("INFOMIX_TORCH_INDEX") or TORCH_VARIANTS[variant]
    args = ["--index-url", index] if index else []
    session.install(f"torch=={os.environ.get('INFOMIX_TORCH_VERSION', TORCH_VERSION)}", *args)


def system_cmake_suffices() -> bool:
    """True when a cmake on PATH is new enough, so the build needs no 30 MB cmake wheel from PyPI."""
    cmake = shutil.which("cmake")
    if cmake is None:
        return False
    output = subprocess.run([cmake, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"version (\d+)\.(\d+)", output)
    return found is not None and (int(found[1]), int(found[2])) >= CMAKE_MINIMUM


def install_infomix(session: nox.Session, *extra: str) -> None:
    """Build the core against the session's torch (never in an isolated env), then every package."""
    cmake = [] if system_cmake_suffices() else ["cmake>={}.{}".format(*CMAKE_MINIMUM)]
    session.install(*BUILD_TOOLS, *cmake, *extra)
    session.install("--no-build-isolation", ".[data]")
    session.install("--no-build-isolation", *[f"./packages/{p}" for p in PACKAGES], "./plugins/infomix-example")
    session.install("./packages/retrieval[test]", "--no-build-isolation")


def run_tests(session: nox.Session) -> None:
    install_infomix(session, *TEST_TOOLS)
    wheelhouse = Path(session.create_tmp()) / "wheelhouse"
    session.run("python", "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(wheelhouse),
                ".", *[f"./packages/{p}" for p in PACKAGES])  # fmt: skip
    session.run("python", "-m", "pytest", "-m", "not cuda", "--run-slow", *session.posargs,
                env={"INFOMIX_WHEELHOUSE": str(wheelhouse)})  # fmt: skip


@nox.session
def tests(session: nox.Session) -> None:
    """Build and install core + all packages, then run every test (slow ones included; CUDA ones skip)."""
    install_torch(session)
    run_tests(session)


@nox.session(default=False)
@nox.parametrize("torch", list(TORCH_VARIANTS))
def tests_matrix(session: nox.Session, torch: str) -> None:
    """The test session against each torch build (cpu, cu126, cu128, cu130)."""
    install_torch(session, torch)
    run_tests(session)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff on everything; mypy on the core."""
    session.install("ruff>=0.6", "mypy>=1.10", "pluggy", "click", "rich", "numpy", "pytest")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmarks/bench_*.py at a CPU-friendly size; results land in benchmarks/results/."""
    install_torch(session)
    install_infomix(session, "scipy>=1.11", "matplotlib>=3.7")
    for script in sorted((ROOT / "benchmarks").rglob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The README's main job: the demo of every installed package, with a report and plots."""
    install_torch(session)
    install_infomix(session, "matplotlib>=3.7")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(default=False)
def cuda_compile(session: nox.Session) -> None:
    """Compile every csrc/**/*.cu with nvcc for sm_80 and sm_90 (a syntax and type check; no GPU needed)."""
    install_torch(session, "cpu")
    session.run("python", "ci/cuda_compile.py", *session.posargs)


@nox.session(default=False, venv_backend="none")
def gpu(session: nox.Session) -> None:
    """On a CUDA machine: build against the system torch and run the CUDA-marked tests."""
    session.run("python", "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')")
    session.run("python", "-m", "pip", "install", "--no-build-isolation", "--no-deps", ".",
                *[f"./packages/{p}" for p in PACKAGES], env={"INFOMIX_CUDA": "ON"})  # fmt: skip
    session.run("python", "-m", "pytest", "-m", "cuda", "-v", *session.posargs, success_codes=[0, 5])
