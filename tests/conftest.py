"""Shared fixtures (helpers live in tests/helpers.py so no module imports a conftest)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import make_corpus


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal delivers it: a suite started in the background by a
    non-interactive shell (`cmd &`) inherits SIGINT ignored (POSIX), and so would every
    process the Ctrl-C tests start."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "mel-cache"
