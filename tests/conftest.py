"""Shared fixtures (helpers live in tests/helpers.py so no module imports a conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "mel-cache"
