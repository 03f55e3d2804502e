"""The epoch-optimisation history (S19): `smart_tuner/epoch_optimizer_history.db`.

One row per finished run folder (a resumed run replaces its row): dataset fingerprint and
profile features, the table's and the recommended epochs, parameters, best epoch, stop reason,
final metrics, wall time, and the controller's predictions next to the outcome. `learning.py`
turns these rows into the correction of the next recommendation.

SQLite in WAL mode; every connection waits up to `timeout` seconds for a lock and a write is
retried with back-off on "database is locked", so several processes (parallel trials) can
record at once. The schema is versioned: table `schema_version` lists the migrations applied;
`MIGRATIONS[n]` takes a database from version n-1 to n inside one transaction, so two
processes opening an old file at once migrate it exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smart_tuner.events import EpochEnded, Event, RunFinished, RunStarted, read_records
from smart_tuner.track._util import finite_metrics, profile_features

log = logging.getLogger("smart_tuner")


class HistoryError(RuntimeError):
    """The history database cannot be used (e.g. written by a newer version)."""


# ---------------------------------------------------------------- schema and migrations


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    """The first schema: one row per run, the essentials as columns, the rest as JSON."""
    conn.execute(
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            run_dir TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            dataset_fingerprint TEXT,
            recommended_epochs INTEGER,
            epochs_run INTEGER,
            best_epoch INTEGER,
            stop_reason TEXT,
            best_val_loss REAL,
            final_val_loss REAL,
            wall_seconds REAL,
            params_json TEXT NOT NULL DEFAULT '{}',
            summary_json TEXT NOT NULL DEFAULT '{}'
        )"""
    )


V2_COLUMNS = {
    "table_epochs": "INTEGER",
    "planned_epochs": "INTEGER",
    "dataset_hours": "REAL",
    "quality_percent": "REAL",
    "complexity_level": "TEXT",
    "language": "TEXT",
    "preset": "TEXT",
    "predicted_stop_epoch": "REAL",
    "predicted_final_val_loss": "REAL",
    "mlflow_run_id": "TEXT",
    "parent_run_id": "TEXT",
    "label": "TEXT",
    "features_json": "TEXT NOT NULL DEFAULT '{}'",
    "final_metrics_json": "TEXT NOT NULL DEFAULT '{}'",
}


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    """Profile features as columns (for similarity queries), predictions vs outcome, links to
    MLflow; existing rows are filled from the parameters they already hold."""
    for column, kind in V2_COLUMNS.items():
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    rows = conn.execute("SELECT run_id, params_json, summary_json FROM runs").fetchall()
    for run_id, params_json, summary_json in rows:
        params = json.loads(params_json or "{}")
        summary = json.loads(summary_json or "{}")
        values = _derived_columns(params, profile_features(params), summary)
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", [*values.values(), run_id])
    conn.execute("CREATE INDEX runs_fingerprint ON runs (dataset_fingerprint)")
    conn.execute("CREATE INDEX runs_finished_at ON runs (finished_at)")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_to_v1,
    2: _migrate_to_v2,
}
SCHEMA_VERSION = max(MIGRATIONS)


def _derived_columns(
    params: dict[str, Any], features: dict[str, Any], summary: dict[str, Any]
) -> dict[str, Any]:
    return {
        "table_epochs": _int(features.get("table_epochs")),
        "planned_epochs": _int(params.get("planned_epochs")),
        "dataset_hours": _float(features.get("dataset_hours")),
        "quality_percent": _float(features.get("quality_percent")),
        "complexity_level": _text(features.get("complexity_level")),
        "language": _text(features.get("language")),
        "preset": _text(features.get("preset")),
        "predicted_stop_epoch": _float(summary.get("predicted_stop_epoch")),
        "predicted_final_val_loss": _float(summary.get("predicted_final_val_loss")),
        "features_json": json.dumps(features, default=str),
    }


# ---------------------------------------------------------------- the database


def run_id_for(run_dir: Path) -> str:
    """A stable, readable id for a run folder: its name plus a hash of its absolute path."""
    path = str(Path(run_dir).resolve())
    return f"{Path(run_dir).name}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


class HistoryDB:
    """The history file. Each call opens its own connection, so one object may be shared by
    threads and any number of processes may use the same file."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, retries: int = 8) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.retries = retries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retry(self._enable_wal)
        self.migrate()

    # -------------------------------------------------------------- plumbing

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _enable_wal(self) -> None:
        conn = self.connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("history database %s: journal mode %s, not WAL", self.path, mode)
        finally:
            conn.close()

    def _retry(self, action: Callable[[], Any]) -> Any:
        delay = 0.05
        for attempt in range(self.retries):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or attempt == self.retries - 1:
                    raise
                time.sleep(delay * (1.0 + random.random()))
                delay = min(delay * 2, 2.0)
        return None

    def _write(self, action: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `action` in one IMMEDIATE transaction (the write lock taken up front), retried."""

        def attempt() -> Any:
            conn = self.connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = action(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            finally:
                conn.close()

        return self._retry(attempt)

    def _read(self, query: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        def attempt() -> list[sqlite3.Row]:
            conn = self.connect()
            conn.row_factory = sqlite3.Row
            try:
                return conn.execute(query, args).fetchall()
            finally:
                conn.close()

        return self._retry(attempt)

    # -------------------------------------------------------------- schema

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def schema_version(self) -> int:
        return self._write(self._version)

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply the missing migrations up to `target`; returns the version reached."""

        def step(conn: sqlite3.Connection) -> int:
            current = self._version(conn)
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"{self.path}: schema version {current} is newer than this smart-tuner "
                    f"understands ({SCHEMA_VERSION}); upgrade smart-tuner"
                )
            for version in range(current + 1, target + 1):
                MIGRATIONS[version](conn)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _now()),
                )
            return max(current, target)

        return self._write(step)

    # -------------------------------------------------------------- runs

    def record_run(
        self,
        *,
        run_dir: str | Path,
        summary: dict[str, Any],
        params: dict[str, Any] | None = None,
        features: dict[str, Any] | None = None,
        final_metrics: dict[str, Any] | None = None,
        run_id: str | None = None,
        mlflow_run_id: str | None = None,
        parent_run_id: str | None = None,
        label: str | None = None,
        finished_at: str | None = None,
    ) -> str:
        """Insert or replace the row of one run folder; returns its run id.

        `features` default to the profile keys found in `params` (see `_util.PROFILE_KEYS`).
        The table's recommendation is `features['table_epochs']` (before any history
        correction) or, failing that, `features['recommended_epochs']`.
        """
        params = dict(params or {})
        features = dict(features if features is not None else profile_features(params))
        run_id = run_id or run_id_for(Path(run_dir))
        columns: dict[str, Any] = {
            "run_id": run_id,
            "run_dir": str(run_dir),
            "finished_at": finished_at or _now(),
            "dataset_fingerprint": _text(features.get("dataset_fingerprint")),
            "recommended_epochs": _int(features.get("recommended_epochs")),
            "epochs_run": _int(summary.get("epochs_run")),
            "best_epoch": _int(summary.get("best_epoch")),
            "stop_reason": _text(summary.get("stop_reason")),
            "best_val_loss": _float(summary.get("best_val_loss")),
            "final_val_loss": _float(summary.get("final_val_loss")),
            "wall_seconds": _float(summary.get("wall_seconds")),
            "params_json": json.dumps(params, default=str),
            "summary_json": json.dumps(summary, default=str),
            **_derived_columns(params, features, summary),
            "mlflow_run_id": mlflow_run_id,
            "parent_run_id": parent_run_id,
            "label": label,
            "final_metrics_json": json.dumps(finite_metrics(final_metrics or {})),
        }
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{k} = excluded.{k}" for k in columns if k != "run_id")
        sql = (
            f"INSERT INTO runs ({names}) VALUES ({marks}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}"
        )
        self._write(lambda conn: conn.execute(sql, list(columns.values())))
        return run_id

    def runs(self) -> list[dict[str, Any]]:
        """All runs, oldest first, with JSON fields decoded (`params`, `summary`, `features`,
        `final_metrics`)."""
        return [_row_dict(r) for r in self._read("SELECT * FROM runs ORDER BY finished_at")]

    def similar_runs(
        self, features: dict[str, Any], k: int = 5, min_similarity: float | None = None
    ) -> list[dict[str, Any]]:
        """The k runs most similar to `features` (each row gains a `similarity` in (0, 1]);
        runs below `min_similarity` (default: learning.MIN_SIMILARITY) are left out."""
        from smart_tuner.history_learning import MIN_SIMILARITY, profile_similarity

        floor = MIN_SIMILARITY if min_similarity is None else min_similarity
        scored = []
        for row in self.runs():
            similarity = profile_similarity(features, row["features"])
            if similarity > 0 and similarity >= floor:
                scored.append({**row, "similarity": similarity})
        scored.sort(key=lambda r: (-r["similarity"], r["finished_at"]))
        return scored[:k]


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("params", "summary", "features", "final_metrics"):
        out[key] = json.loads(out.pop(f"{key}_json", None) or "{}")
    for key in ("dataset_fingerprint", "dataset_hours", "quality_percent", "complexity_level"):
        if out.get(key) is not None:
            out["features"].setdefault(key, out[key])
    if out.get("recommended_epochs") is not None:
        out["features"].setdefault("recommended_epochs", out["recommended_epochs"])
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- the listener


class HistoryRecorder:
    """Listener: records the run in the history database when it finishes."""

    __name__ = "history"

    def __init__(
        self,
        db_path: Path,
        run_dir: Path,
        *,
        parent_run_id: str | None = None,
        nested_name: str | None = None,
    ) -> None:
        self.db = HistoryDB(db_path)  # opened (and migrated) now, so a bad file fails early
        self.run_dir = Path(run_dir)
        self.parent_run_id = parent_run_id
        self.label = nested_name
        self.params: dict[str, Any] = {}
        self.last_metrics: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.params = dict(event.params)
        elif isinstance(event, EpochEnded):
            self.last_metrics = {"epoch": event.epoch, **event.metrics}
        elif isinstance(event, RunFinished):
            final = self.last_metrics
            if not final:  # resumed and finished without a new epoch: read the stream
                records = read_records(self.run_dir / "metrics.jsonl")
                final = records[-1] if records else {}
            id_file = self.run_dir / "mlflow_run_id"
            mlflow_id = id_file.read_text(encoding="utf-8").strip() if id_file.exists() else None
            self.db.record_run(
                run_dir=self.run_dir,
                summary=event.summary,
                params=self.params,
                final_metrics={k: v for k, v in final.items() if k != "event"},
                mlflow_run_id=mlflow_id,
                parent_run_id=self.parent_run_id,
                label=self.label,
            )

    def close(self) -> None:
        pass
