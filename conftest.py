"""Repository-wide pytest options: slow tests (wheels, fresh venvs, failing builds) run with --run-slow."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow (nox -s tests does)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("INFOMIX_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow (nox -s tests does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
