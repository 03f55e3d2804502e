"""A real tiny training killed from outside: `kill -9` at random moments and Ctrl-C.

Each time, `--resume` must continue the same run: the stale run-folder lock is taken over
(with a message), the metrics stream has every epoch exactly once, and the run finishes. Ctrl-C
exits 130 after saving a checkpoint. The command runs as a user runs it: a separate process
(in a session of its own, so a test can stop or kill it together with any children).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from smart_tuner.config import dump_config
from tests.helpers import tiny_config

EPOCHS = 5
# A plan far longer than a run gets before a signal sent right after its first epoch (about
# half a second an epoch), so the signal always lands in training, never after the end.
LONG_EPOCHS = 200


def command(corpus: Path, config: Path, *extra: str, epochs: int = EPOCHS) -> list[str]:
    return [
        sys.executable, "-m", "smart_tuner", "train", str(corpus), "--out", "run",
        "--config", str(config), "--no-track", "--epochs", str(epochs), *extra,
    ]  # fmt: skip


def start(tmp_path: Path, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def wait_for_checkpoint(run: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not (run / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)


def flat(text: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(text.split())


def wait_for_first_epoch(run: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Until epoch 1's record is written (the checkpoint comes just before it; an interrupt
    between the two is test_an_interrupt_between_save_and_record_loses_no_epoch)."""
    wait_for_checkpoint(run, proc, timeout)
    deadline = time.monotonic() + timeout
    while not epochs_recorded(run):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no epoch record in time"
        time.sleep(0.05)


def epochs_recorded(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [int(r["epoch"]) for r in records if r.get("event") == "epoch_ended"]


@pytest.fixture
def setup(corpus, cache_dir, tmp_path) -> tuple[Path, Path]:
    config = tmp_path / "tiny.yaml"
    data = yaml.safe_load(dump_config(tiny_config(cache_dir, audio_sample_minutes=0.0)))
    data["analysis"]["sampling"].update(dnsmos_max_seconds=0, asr_max_utterances=0)  # cheaper
    config.write_text(yaml.safe_dump(data))
    return corpus, config


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_a_random_moment_then_resume_continues_the_run(setup, tmp_path, seed):
    corpus, config = setup
    run = tmp_path / "run"
    proc = start(tmp_path, command(corpus, config))
    wait_for_first_epoch(run, proc)
    time.sleep(random.Random(seed).uniform(0.0, 2.0))  # somewhere in epochs 1..EPOCHS
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    killed_at = epochs_recorded(run)

    done = subprocess.run(
        command(corpus, config, "--resume"), cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "200"}, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    if proc.returncode == -signal.SIGKILL:  # it may have finished before the signal
        assert "Taking over a stale lock" in flat(done.stdout)
    epochs = epochs_recorded(run)
    assert epochs == list(range(1, EPOCHS + 1)), (killed_at, epochs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_exit_130_with_a_checkpoint_and_resume_finishes(setup, tmp_path, signum):
    """The interrupted run is planned for LONG_EPOCHS, so the signal always finds it training;
    the resume gives a short --epochs (a new --epochs replaces the plan on resume) and must
    finish it with every epoch recorded once."""
    corpus, config = setup
    run = tmp_path / "run"
    proc = start(tmp_path, command(corpus, config, epochs=LONG_EPOCHS))
    wait_for_first_epoch(run, proc)
    time.sleep(random.Random(int(signum)).uniform(0.0, 1.5))  # mid-epoch or between epochs
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, out[-3000:]
    assert "continue with --resume" in flat(out) and "Traceback" not in out
    interrupted = epochs_recorded(run)
    assert 1 <= len(interrupted) < LONG_EPOCHS, interrupted
    target = max(EPOCHS, interrupted[-1] + 2)  # at least one whole epoch left to train
    done = subprocess.run(
        command(corpus, config, "--resume", epochs=target), cwd=tmp_path, capture_output=True,
        text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "stale lock" not in flat(done.stdout)  # Ctrl-C released the lock cleanly
    assert epochs_recorded(run) == list(range(1, target + 1)), (interrupted, target)
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == target


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `folder`: its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


# What the analysis and the training print (the analysis header, the epoch plan, the device
# line, a resume, an epoch's line): a refused command prints none of it.
WORK_LINES = re.compile(
    r"Dataset analysis|^Epochs set by hand|^Training on|^Resuming|^epoch\s+\d", re.M | re.I
)


def test_a_second_train_into_a_running_folder_stops_at_once_with_exit_4(setup, tmp_path):
    corpus, config = setup
    run = tmp_path / "run"
    first = start(tmp_path, command(corpus, config))
    try:
        wait_for_checkpoint(run, first)
        # Freeze the first run (its whole process group): from here on only the second
        # command can change anything under tmp_path.
        os.killpg(first.pid, signal.SIGSTOP)
        before = snapshot(tmp_path)
        second = subprocess.run(
            command(corpus, config), cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert second.returncode == 4, second.stdout[-2000:]
        said = flat(second.stdout)
        assert f"pid {first.pid}" in said and "in use by another run" in said
        # refused before any analysis or training: none of their output, nothing written
        assert not WORK_LINES.search(second.stdout), second.stdout[-2000:]
        assert snapshot(tmp_path) == before
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()


def test_an_interrupt_between_save_and_record_loses_no_epoch(corpus, cache_dir, tmp_path):
    """Ctrl-C right after the first checkpoint is saved (a listener raises it, so the moment
    is exact), then --resume: every epoch must still be in metrics.jsonl once."""
    from smart_tuner.events import CheckpointSaved
    from smart_tuner.train.loop import train

    config = tiny_config(cache_dir, epochs=2, audio_sample_minutes=0.0)

    def ctrl_c_after_first_save(event: object) -> None:
        if isinstance(event, CheckpointSaved) and event.epoch == 1:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    first = train(config, corpus, run, listeners=[ctrl_c_after_first_save])
    assert first["stop_reason"] == "interrupted"
    train(config, corpus, run, resume=True)
    assert epochs_recorded(run) == [1, 2]
