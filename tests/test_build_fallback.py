"""A failing C++ build still installs infomix, pure Python, whose ops warn once and use references."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_broken_cpp_build_installs_pure_python(tmp_path):
    source = tmp_path / "src-copy"
    ignore = shutil.ignore_patterns("build", ".nox", ".git", "packages", "plugins", "benchmarks", "*.so")
    shutil.copytree(ROOT, source, ignore=ignore)
    (source / "csrc" / "registration.cpp").write_text("this is not C++;\n")
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-build-isolation",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert not list((target / "infomix" / "ops").glob("_C*")), "the broken library must not be installed"
    script = (
        "import warnings, json\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    from infomix.ops import build_info\n"
        "    info = build_info(); build_info()\n"
        "print(json.dumps({'compiled': info['compiled'], 'warnings': [str(w.message) for w in caught]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONPATH": str(target)}
    )
    assert out.returncode == 0, out.stderr
    import json

    result = json.loads(out.stdout)
    assert result["compiled"] is False
    assert len(result["warnings"]) == 1
    assert "compiled kernels are not available" in result["warnings"][0]
