"""The MLflow store (SQLite) with two runs logging at once, one of them killed mid-stream."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

from smart_tuner.config import Config
from smart_tuner.events import EpochEnded, RunStarted

KEYS = ("train_loss", "val_loss", "attention_score", "lr")


def tracker_config(uri: str) -> Config:
    return Config.model_validate(
        {"tracking": {"mlflow": {"tracking_uri": uri, "system_metrics": False}}}
    )


def _log_epochs(uri: str, run_dir: str, epochs: int, progress: Any) -> None:
    from smart_tuner.track.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(Path(run_dir), tracker_config(uri))
    tracker(RunStarted(run_dir, {"batch_size": 4}))
    for epoch in range(1, epochs + 1):
        tracker(EpochEnded(epoch, {k: 1.0 / epoch for k in KEYS}))
        progress.value = epoch


def test_a_run_killed_mid_stream_leaves_the_store_and_the_other_run_whole(tmp_path):
    from smart_tuner.track.mlflow_tracker import RUN_ID_FILE, make_client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _log_epochs(uri, str(tmp_path / "warmup"), 1, multiprocessing.Value("i", 0))  # schema once
    ctx = multiprocessing.get_context("spawn")
    victim_done, other_done = ctx.Value("i", 0), ctx.Value("i", 0)
    victim = ctx.Process(target=_log_epochs, args=(uri, str(tmp_path / "a"), 100_000, victim_done))
    other = ctx.Process(target=_log_epochs, args=(uri, str(tmp_path / "b"), 40, other_done))
    victim.start()
    other.start()
    deadline = time.monotonic() + 120
    while victim_done.value < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(30)
    other.join(180)
    assert victim.exitcode == -signal.SIGKILL and other.exitcode == 0

    client, _ = make_client(tracker_config(uri).tracking.mlflow)
    survivor = (tmp_path / "b" / RUN_ID_FILE).read_text().strip()
    for key in KEYS:
        assert [m.step for m in client.get_metric_history(survivor, key)] == list(range(1, 41))
    killed = (tmp_path / "a" / RUN_ID_FILE).read_text().strip()
    steps = {key: sorted(m.step for m in client.get_metric_history(killed, key)) for key in KEYS}
    logged = steps[KEYS[0]]
    assert len(logged) >= 10 and logged == list(range(1, len(logged) + 1))  # a prefix
    assert all(s == logged for s in steps.values())  # every epoch whole: one batch, one commit
    _log_epochs(uri, str(tmp_path / "after"), 2, multiprocessing.Value("i", 0))  # not locked
