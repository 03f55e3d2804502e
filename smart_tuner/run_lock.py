"""One run per folder: an OS file lock held for the whole life of a run.

Two processes training into the same folder silently overwrite each other's checkpoints,
metrics and summary. `RunLock` takes an exclusive, non-blocking `flock` on RUN_DIR/.lock and
writes the holder's pid, host and start time into it, so a second run stops at once and can
say who holds the folder. The operating system drops the lock when its process dies (even
on `kill -9`), so a lock file left by a dead process is stale by construction: it is taken
over, and the takeover is reported.

Used by `train` (the whole run), and meant for every folder a run writes into (the `auto`
pipeline's folder, each search trial's folder).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

LOCK_NAME = ".lock"


class RunFolderLocked(RuntimeError):
    """Another live process holds the run folder; the message names it."""


def _lock_file(handle: IO[str]) -> bool:
    """Try to take the lock without waiting; False when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_file(handle: IO[str]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_holder(run_dir: Path) -> dict[str, Any]:
    """What the lock file says about its (last) holder; {} when absent or unreadable."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (no details in the lock file)"
    started = holder.get("started")
    since = (
        f", started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
        if isinstance(started, (int, float))
        else ""
    )
    command = f" ({holder['command']})" if holder.get("command") else ""
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{command}{since}"


class RunLock:
    """`with RunLock(run_dir, command="train"):` - the folder is ours until the block ends.

    Raises `RunFolderLocked` at once when a live process holds the folder. `taken_over` is the
    holder description of a stale lock this lock replaced ("" when the folder was free), and
    `notify` (e.g. console.print) is told about it.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        command: str = "",
        notify: Any = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.command = command
        self.notify = notify
        self.taken_over = ""
        self._handle: IO[str] | None = None

    def _refuse(self) -> RunFolderLocked:
        return RunFolderLocked(
            f"{self.run_dir} is in use by another run: {describe(read_holder(self.run_dir))}. "
            "Wait for it to finish (or stop it), or choose another --out folder."
        )

    def check(self) -> None:
        """Raise RunFolderLocked now if a live process holds the folder (takes nothing): lets a
        command refuse before minutes of preparation; the lock itself is taken later."""
        if not self.path.is_file():
            return
        with open(self.path, "a+", encoding="utf-8") as handle:
            if not _lock_file(handle):
                raise self._refuse()
            _unlock_file(handle)

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # "a+": never truncates before we hold the lock, so a live holder's details survive.
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        if not _lock_file(handle):
            handle.close()
            raise self._refuse()
        handle.seek(0)
        previous = handle.read().strip()
        if previous:
            try:
                old = json.loads(previous)
            except ValueError:
                old = {}
            self.taken_over = describe(old if isinstance(old, dict) else {})
            if self.notify is not None:
                self.notify(
                    f"Taking over a stale lock on {self.run_dir}: its holder ({self.taken_over}) "
                    "is no longer running."
                )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.time(),
                    "command": self.command,
                }
            )
        )
        handle.flush()
        os.fsync(handle.fileno())
        self._handle = handle
        return self

    def release(self) -> None:
        """Empty the lock file (a clean exit leaves nothing to take over), then unlock."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            _unlock_file(handle)
        finally:
            handle.close()

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
