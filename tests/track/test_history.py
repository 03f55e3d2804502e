"""The history database: concurrent writers, schema migrations, similarity, `history` output."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from smart_tuner.track.history import MIGRATIONS, SCHEMA_VERSION, HistoryDB, HistoryError
from smart_tuner.track.history_command import history_json, history_table, print_history

PER_PROCESS = 50


def _writer(path: str, worker: int, start: Any) -> None:
    start.wait(30)  # all four begin together ...
    db = HistoryDB(path)  # ... racing to create and migrate the file, then to write
    for i in range(PER_PROCESS):
        db.record_run(
            run_dir=f"/runs/w{worker}-{i}",
            summary={"best_epoch": 100 + i, "epochs_run": 150, "stop_reason": "converged"},
            params={"dataset_fingerprint": f"fp{worker}", "table_epochs": 100, "batch_size": 16},
        )


def test_four_concurrent_writer_processes_lose_nothing(tmp_path):
    path = tmp_path / "history.db"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(str(path), w, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    db = HistoryDB(path)
    rows = db.runs()
    assert len(rows) == 4 * PER_PROCESS
    assert len({r["run_id"] for r in rows}) == 4 * PER_PROCESS
    assert db.schema_version() == SCHEMA_VERSION
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert sorted(v for (v,) in versions) == list(range(1, SCHEMA_VERSION + 1))  # once each
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _v1_database(path: Path) -> None:
    """A file as the first version of smart-tuner wrote it."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
    MIGRATIONS[1](conn)
    conn.execute("INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00')")
    params = {
        "dataset_fingerprint": "fp-old",
        "dataset_hours": 2.0,
        "quality_percent": 80,
        "complexity_level": "moderate",
        "recommended_epochs": 2000,
        "preset": "base",
    }
    conn.execute(
        "INSERT INTO runs (run_id, run_dir, finished_at, dataset_fingerprint, "
        "recommended_epochs, epochs_run, best_epoch, stop_reason, params_json, summary_json) "
        "VALUES ('old-1', '/runs/old', '2025-01-01', 'fp-old', 2000, 2600, 2400, "
        "'early_stopping', ?, ?)",
        (json.dumps(params), json.dumps({"predicted_stop_epoch": 2300})),
    )
    conn.commit()
    conn.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path):
    path = tmp_path / "history.db"
    _v1_database(path)
    db = HistoryDB(path)
    assert db.schema_version() == SCHEMA_VERSION == 2
    (row,) = db.runs()
    assert row["run_id"] == "old-1" and row["best_epoch"] == 2400
    assert row["dataset_hours"] == 2.0 and row["complexity_level"] == "moderate"
    assert row["predicted_stop_epoch"] == 2300
    assert row["features"]["dataset_fingerprint"] == "fp-old"
    # new rows with the new columns go in beside it
    db.record_run(run_dir="/runs/new", summary={"best_epoch": 5}, features={"dataset_hours": 1})
    assert len(db.runs()) == 2


def test_a_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "history.db"
    HistoryDB(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'future')")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="newer"):
        HistoryDB(path)


def test_a_resumed_run_replaces_its_row_and_similar_runs_rank_by_profile(tmp_path):
    db = HistoryDB(tmp_path / "h.db")
    near = {"dataset_hours": 1.0, "quality_percent": 80, "complexity_level": "simple"}
    far = {"dataset_hours": 30.0, "quality_percent": 95, "complexity_level": "complex"}
    db.record_run(run_dir="/r/a", summary={"stop_reason": "interrupted"}, features=near)
    db.record_run(run_dir="/r/a", summary={"stop_reason": "converged"}, features=near)
    db.record_run(run_dir="/r/b", summary={}, features={**near, "dataset_hours": 1.5})
    db.record_run(run_dir="/r/c", summary={}, features=far)
    assert len(db.runs()) == 3
    assert db.runs()[0]["stop_reason"] == "converged"
    similar = db.similar_runs(near, k=5)
    assert [r["run_dir"] for r in similar] == ["/r/a", "/r/b"]
    assert similar[0]["similarity"] == 1.0 > similar[1]["similarity"]


def test_history_command_lists_runs_and_the_correction(tmp_path):
    path = tmp_path / "h.db"
    assert history_json(path)["runs"] == []
    assert not path.exists()  # reading never creates the file
    db = HistoryDB(path)
    for i in range(3):
        db.record_run(
            run_dir=f"/runs/train-{i}",
            summary={"best_epoch": 2600 + i, "epochs_run": 3000, "stop_reason": "converged"},
            params={"dataset_fingerprint": "fp-a", "dataset_hours": 2.0, "table_epochs": 2000},
        )
    data = history_json(path)
    assert len(data["runs"]) == 3 and data["schema_version"] == SCHEMA_VERSION
    (correction,) = data["corrections"]
    assert correction["dataset"] == "fp-a" and correction["factor"] > 1.0
    assert len(correction["runs_used"]) == 3
    json.dumps(data)  # serialisable as it is

    console = Console(record=True, width=200)
    console.print(history_table(path))
    text = console.export_text()
    assert "train-0" in text and "converged" in text and "fp-a: epochs x1." in text
    assert "quality %" in text
    narrow = Console(record=True, width=80)
    narrow.print(history_table(path, narrow.width))
    text = narrow.export_text()
    # an 80-column terminal gets the essential columns, run ids and stop reasons unbroken
    assert "quality %" not in text and "converged" in text and "train-0" in text
    assert print_history(path, console, as_json=False) == 0
    out = Console(file=__import__("io").StringIO(), width=40)
    assert print_history(path, out, as_json=True) == 0
    assert json.loads(out.file.getvalue())["corrections"][0]["dataset"] == "fp-a"
