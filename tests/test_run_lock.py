"""The run-folder lock: one live run per folder, stale locks of dead processes taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from smart_tuner.run_lock import LOCK_NAME, RunFolderLocked, RunLock, read_holder

HOLD = (
    "import sys, time\n"
    "from smart_tuner.run_lock import RunLock\n"
    "lock = RunLock(sys.argv[1], command='holder').acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def start_holder(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_file_names_the_holder_and_is_emptied_on_release(tmp_path):
    with RunLock(tmp_path / "run", command="train") as lock:
        holder = read_holder(tmp_path / "run")
        assert holder["pid"] == os.getpid()
        assert holder["host"] == socket.gethostname()
        assert holder["command"] == "train"
        assert lock.held and not lock.taken_over
    assert not lock.held
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""
    with RunLock(tmp_path / "run") as again:  # a clean exit leaves nothing stale
        assert again.taken_over == ""


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    with RunLock(tmp_path), pytest.raises(RunFolderLocked, match=f"pid {os.getpid()}"):
        RunLock(tmp_path).acquire()


def test_a_live_holder_in_another_process_blocks_and_is_named(tmp_path):
    proc = start_holder(tmp_path)
    try:
        with pytest.raises(RunFolderLocked) as info:
            RunLock(tmp_path).acquire()
        message = str(info.value)
        assert f"pid {proc.pid}" in message and "(holder)" in message
        assert "another --out folder" in message
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_process_is_taken_over_with_a_message(tmp_path):
    proc = start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    said: list[str] = []
    with RunLock(tmp_path, notify=said.append) as lock:
        assert f"pid {proc.pid}" in lock.taken_over
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert len(said) == 1 and "stale lock" in said[0] and "no longer running" in said[0]


def test_lock_is_released_when_the_block_raises(tmp_path):
    lock = RunLock(tmp_path)
    with pytest.raises(ZeroDivisionError), lock:
        raise ZeroDivisionError
    assert not lock.held
    assert (tmp_path / LOCK_NAME).read_text() == ""  # emptied: nothing stale is left
    if sys.platform != "win32":  # the OS lock is gone: a non-blocking flock gets it at once
        import fcntl

        with open(tmp_path / LOCK_NAME, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if held
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    # RunLock never waits: it would raise RunFolderLocked here if the lock were still held
    with RunLock(tmp_path) as again:
        assert again.held and again.taken_over == ""


def test_check_refuses_a_held_folder_and_takes_nothing(tmp_path):
    RunLock(tmp_path / "absent").check()  # no folder: free
    assert not (tmp_path / "absent").exists()
    proc = start_holder(tmp_path)
    try:
        with pytest.raises(RunFolderLocked):
            RunLock(tmp_path).check()
    finally:
        proc.kill()
        proc.wait()
    RunLock(tmp_path).check()  # holder dead: free again, and the stale details are kept
    assert read_holder(tmp_path)["pid"] == proc.pid
