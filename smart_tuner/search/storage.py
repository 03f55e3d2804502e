"""Where a study lives: SQLite next to the other databases by default, any SQLAlchemy URL else.

SQLite with several local workers needs WAL (readers never block the writer), a long busy
timeout (a writer waits instead of failing with "database is locked") and one writer at a
time. PostgreSQL URLs (`postgresql://...`) use the psycopg 3 driver. Heartbeats let another
worker fail, and retry, the trial of a worker that was killed.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import event

from smart_tuner.config import SearchSettings
from smart_tuner.track._util import resolve_path

DEFAULT_DB = "smart_tuner/optuna.db"
BUSY_TIMEOUT_SECONDS = 60.0
OPEN_ATTEMPTS = 5


class StorageError(RuntimeError):
    """The study storage cannot be opened; the message names the URL."""


def storage_url(given: str | None) -> str:
    """The SQLAlchemy URL of the study storage: `given`, or SQLite at smart_tuner/optuna.db."""
    if not given:
        path = resolve_path(DEFAULT_DB)
        return f"sqlite:///{path}"
    if "://" not in given:  # a plain file path
        return f"sqlite:///{Path(given).resolve()}"
    for plain in ("postgresql://", "postgres://"):
        if given.startswith(plain):
            return "postgresql+psycopg://" + given[len(plain) :]
    return given


def sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _prepare_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file


@contextmanager
def _creation_lock(path: Path | None) -> Iterator[None]:
    """Local workers opening one SQLite file take turns creating its tables."""
    if path is None:
        yield
        return
    with open(path.with_name(path.name + ".create.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def open_storage(url: str, settings: SearchSettings) -> optuna.storages.RDBStorage:
    """The study storage with heartbeats: a trial silent for `stale_after_seconds` is failed
    and re-queued (at most `max_retries` times) by the next worker that looks."""
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    path = sqlite_file(url)
    if path is not None:
        _prepare_sqlite(path)
        engine_kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            with _creation_lock(path):
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=settings.heartbeat_seconds,
                    grace_period=settings.stale_after_seconds,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=settings.max_retries
                    ),
                )
            break
        except Exception as exc:  # driver missing, server down, bad URL
            # Two workers creating the tables of a new database at once: one loses the race
            # (a unique-constraint or "already exists" error) and finds the tables next try.
            lost_race = any(m in str(exc).upper() for m in ("UNIQUE", "ALREADY EXISTS"))
            if not lost_race or attempt == OPEN_ATTEMPTS - 1:
                raise StorageError(f"cannot open the study storage {redact(url)}: {exc}") from None
            time.sleep(0.5 * (attempt + 1))
    if path is not None:
        event.listen(storage.engine, "connect", _sqlite_pragmas)
    return storage
