"""Fixtures for the search tests: a tiny study on a tiny corpus, and a real PostgreSQL server
(a throw-away cluster made with initdb / pg_ctl in a temp folder, on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smart_tuner.search.study import StudySpec
from tests.helpers import make_corpus, tiny_config

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@pytest.fixture(scope="module")
def search_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("search") / "corpus", n=8)


@pytest.fixture
def make_spec(tmp_path: Path, search_corpus: Path) -> Callable[..., StudySpec]:
    """A study spec for the tiny model: `search` settings and `space` entries as keywords."""

    def make(
        storage: str | None = None,
        n_trials: int = 3,
        space: dict[str, Any] | None = None,
        name: str = "tiny",
        **search: Any,
    ) -> StudySpec:
        config = tiny_config(tmp_path / "cache")
        settings = {
            "trial_epochs": 1,
            "alignment_grace_epochs": 1,
            "min_attention_score": 0.0,
            "heartbeat_seconds": 1,
            "stale_after_seconds": 4,
            "seed": 0,
            **search,
        }
        space_section = config.hyperparameter_search_space.model_copy(update=space or {})
        config = config.model_copy(
            update={
                "search": config.search.model_copy(update=settings),
                "hyperparameter_search_space": space_section,
            }
        )
        return StudySpec(
            study_name=name,
            storage_url=storage or f"sqlite:///{tmp_path / 'optuna.db'}",
            study_dir=str(tmp_path / "study"),
            dataset=str(search_corpus),
            config=config.model_dump(mode="json"),
            n_trials=n_trials,
            track=False,
        )

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    raise RuntimeError(
        f"PostgreSQL's {name} is missing: install the Debian package postgresql "
        "(make system installs .ci/apt-packages.txt)"
    )


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server tools as the `postgres` user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this test session, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="smart_tuner_pg_"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    run = subprocess.run
    run(
        _as_unprivileged([_pg_tool("initdb"), "-D", str(data), "-A", "trust", "-U", "st"]),
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(
        _as_unprivileged(
            [_pg_tool("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w"]
            + ["start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        run(
            [_pg_tool("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "st", "search"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://st@127.0.0.1:{port}/search"
    finally:
        run(
            _as_unprivileged([_pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
