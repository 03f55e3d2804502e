"""Crash-safe checkpoints: write to a temp file, fsync, rename.

A checkpoint holds everything needed to resume exactly (model, optimizer, scaler, step, epoch,
best metric, RNG) plus what synthesis needs (config, text front-end). Only tensors and plain
Python values go in, so loading works with `weights_only=True`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from smart_tuner.checkpoint_diagnosis import explain_load_failure
from smart_tuner.uninterrupted import signals_deferred


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message says which file and why."""


def _atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Temp file in the same folder, fsync, rename, fsync the folder: a reader (or a crash)
    sees the old file or the new one, never half of one. Ctrl-C/SIGTERM wait until the file
    is complete (an interrupt inside torch.save breaks its writer); a failed write (disk full)
    removes the temp file and leaves the old file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with signals_deferred():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    _atomic_write(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # PyTorch's text may advise weights_only=False: never relayed
        raise CheckpointError(explain_load_failure(path, exc)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint dictionary")
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
