"""Checkpoints that are not what they claim, and a disk that fills while one is written.

A foreign or damaged file is named for what it is and PyTorch's advice to load it with
`weights_only=False` (arbitrary code execution) never reaches the user. A write that fails
with ENOSPC leaves the previous checkpoint byte-for-byte intact and says the disk is full.
"""

from __future__ import annotations

import argparse
import errno
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from smart_tuner.cli import main
from smart_tuner.config import dump_config
from smart_tuner.model.warm_start import load_checkpoint_state
from smart_tuner.runtime.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.helpers import tiny_config


def foreign_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the message must call it)."""
    files: dict[str, tuple[Path, str]] = {}

    def add(name: str, data: bytes, said: str) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        files[name] = (path, said)

    add("random.pt", np.random.default_rng(0).bytes(4096), "random or foreign bytes")
    add("empty.pt", b"", "empty file (0 bytes)")
    add("notes.pt", b"epoch 12, loss 0.3\n", "a text file")
    add("plain.pkl", pickle.dumps({"a": 1}), "Python pickle")
    np.save(tmp_path / "array.npy", np.zeros(3))
    files["array.npy"] = (tmp_path / "array.npy", "NumPy array")
    torch.save({"model": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "objects.pt")
    files["objects.pt"] = (tmp_path / "objects.pt", "argparse.Namespace")
    whole = (tmp_path / "objects.pt").read_bytes()
    add("truncated.pt", whole[: len(whole) // 2], "damaged or truncated")
    return files


def test_foreign_files_are_named_and_never_advise_weights_only_false(tmp_path):
    for name, (path, said) in foreign_files(tmp_path).items():
        for load in (load_checkpoint, load_checkpoint_state):
            with pytest.raises(CheckpointError) as info:
                load(path)
            message = str(info.value)
            assert said in message, (name, message)
            assert "weights_only" not in message and "arbitrary code execution" not in message


def test_synthesize_with_a_random_file_exits_2_without_the_advice(tmp_path, capsys):
    path, _ = foreign_files(tmp_path)["random.pt"]
    code = main(["synthesize", "--checkpoint", str(path), "--text", "hi", "--out", "x.wav"])
    out = capsys.readouterr().out
    assert code == 2
    assert "not a PyTorch checkpoint" in out
    assert "weights_only" not in out and "Traceback" not in out


def failing_save(after_bytes: int):
    """torch.save that writes part of the file, then fails as a full disk does."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        real(obj, f, *args, **kwargs)
        if hasattr(f, "truncate"):
            f.truncate(after_bytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return save


def test_disk_full_during_a_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    first = {"epoch": 1, "w": torch.arange(10_000.0)}
    save_checkpoint(first, path)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", failing_save(after_bytes=100))
    with pytest.raises(OSError) as info:
        save_checkpoint({"epoch": 2, "w": torch.zeros(10_000)}, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before  # same size, same bytes
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp left


def test_train_on_a_full_disk_exits_1_and_resumes_from_the_last_whole_checkpoint(
    corpus, cache_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tiny.yaml"
    config.write_text(dump_config(tiny_config(cache_dir, audio_sample_minutes=0.0)))
    real = torch.save

    def save(obj, f, *args, **kwargs):  # the disk fills while epoch 2 is saved
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    argv = ["train", str(corpus), "--out", "run", "--config", str(config), "--no-track"]
    assert main([*argv, "--epochs", "3"]) == 1
    out = capsys.readouterr().out
    assert "disk is full" in out and "Traceback" not in out
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(torch, "save", real)  # space freed
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_a_save_waits_for_the_whole_file(tmp_path, monkeypatch, signum):
    """Ctrl-C inside torch.save used to break its zip writer (a traceback, no checkpoint);
    now the file is finished first and the interrupt arrives right after."""
    from smart_tuner.cli import _sigterm_as_interrupt

    path = tmp_path / "last.pt"
    real = torch.save

    def save(obj, f, *args, **kwargs):
        os.kill(os.getpid(), signum)  # arrives in the middle of the write
        time.sleep(0.05)
        real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    previous = _sigterm_as_interrupt()  # as the CLI runs commands: SIGTERM acts like Ctrl-C
    try:
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint({"epoch": 7, "w": torch.arange(50_000.0)}, path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert load_checkpoint(path)["epoch"] == 7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
