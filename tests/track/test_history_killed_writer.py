"""The history database survives a writer killed with SIGKILL in the middle of its writes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from typing import Any

from smart_tuner.track.history import HistoryDB


def _writer(path: str, worker: int, count: int, started: Any) -> None:
    db = HistoryDB(path)
    started.set()
    for i in range(count):
        db.record_run(
            run_dir=f"/runs/w{worker}-{i}",
            summary={"best_epoch": i, "epochs_run": i + 1, "stop_reason": "converged"},
            params={"dataset_fingerprint": f"fp{worker}", "table_epochs": 100, "note": "x" * 2000},
        )


def test_a_writer_killed_mid_write_loses_only_its_unfinished_row(tmp_path):
    path = str(tmp_path / "history.db")
    ctx = multiprocessing.get_context("spawn")
    victim_started, other_started = ctx.Event(), ctx.Event()
    victim = ctx.Process(target=_writer, args=(path, 0, 100_000, victim_started))
    other = ctx.Process(target=_writer, args=(path, 1, 60, other_started))
    victim.start()
    other.start()
    assert victim_started.wait(60) and other_started.wait(60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once it is busy writing
        rows = sqlite3.connect(path, timeout=30).execute(
            "SELECT COUNT(*) FROM runs WHERE run_dir LIKE '/runs/w0-%'"
        )
        if rows.fetchone()[0] >= 20:
            break
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(30)
    other.join(120)
    assert victim.exitcode == -signal.SIGKILL and other.exitcode == 0

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db = HistoryDB(path)
    rows = db.runs()
    by_worker = {w: [r for r in rows if r["run_dir"].startswith(f"/runs/w{w}-")] for w in (0, 1)}
    assert len(by_worker[1]) == 60  # the other writer lost nothing
    killed = sorted(int(r["run_dir"].rsplit("-", 1)[1]) for r in by_worker[0])
    assert killed == list(range(len(killed))) and len(killed) >= 20  # a prefix, no hole
    for row in rows:  # every row is whole
        assert row["summary"]["epochs_run"] == row["epochs_run"]
    db.record_run(run_dir="/runs/after", summary={"epochs_run": 1})  # no stale lock left
    assert len(db.runs()) == len(rows) + 1
