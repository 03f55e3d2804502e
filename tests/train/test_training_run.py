"""The training loop end to end on a tiny corpus and a tiny real Tacotron2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smart_tuner.events import read_records
from smart_tuner.model import Tacotron2Loss
from smart_tuner.runtime.checkpoint import load_checkpoint
from smart_tuner.train.loop import TrainingError, train
from tests.helpers import make_corpus, tiny_config


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def test_run_folder_holds_everything(corpus, cache_dir, tmp_path):
    before = listing(corpus)
    run = tmp_path / "run"
    summary = train(tiny_config(cache_dir, epochs=2), corpus, run)
    assert summary["epochs_run"] == 2
    assert summary["stop_reason"] == "epochs_completed"
    on_disk = json.loads((run / "summary.json").read_text())
    for key in (
        "epochs_run",
        "best_epoch",
        "best_val_loss",
        "attention_score",
        "diagonality",
        "stop_reason",
        "wall_seconds",
    ):
        assert key in on_disk
    assert 1 <= on_disk["best_epoch"] <= 2
    records = read_records(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    for name in (
        "train_loss",
        "val_loss",
        "attention_score",
        "diagonality",
        "gate_accuracy",
        "lr",
        "epoch_seconds",
        "grad_norm",
    ):
        assert name in records[0]
    assert (run / "checkpoints" / "last.pt").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    assert (run / "plots" / "alignment_latest.png").stat().st_size > 1000
    assert listing(corpus) == before, "the dataset folder must never be written to"


def interrupt_at_training_call(monkeypatch, n: int) -> None:
    """Raise KeyboardInterrupt (a user's Ctrl-C) in the n-th training-mode loss computation."""
    calls = {"n": 0}
    original = Tacotron2Loss.forward

    def forward(self, output, *args, **kwargs):
        if output.mel_outputs.requires_grad:
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
        return original(self, output, *args, **kwargs)

    monkeypatch.setattr(Tacotron2Loss, "forward", forward)


def test_ctrl_c_mid_epoch_then_resume_continues_the_same_run(
    corpus, cache_dir, tmp_path, monkeypatch
):
    straight = train(tiny_config(cache_dir, epochs=4), corpus, tmp_path / "straight")
    part = tmp_path / "part"
    with monkeypatch.context() as patch:
        interrupt_at_training_call(patch, 6)  # 2 batches per epoch: epoch 3, second batch
        stopped = train(tiny_config(cache_dir, epochs=4), corpus, part)
    assert stopped["stop_reason"] == "interrupted"
    assert stopped["epochs_run"] == 2
    with pytest.raises(TrainingError, match="--resume"):
        train(tiny_config(cache_dir, epochs=4), corpus, part)
    resumed = train(tiny_config(cache_dir, epochs=4), corpus, part, resume=True)
    assert resumed["epochs_run"] == 4
    a = read_records(tmp_path / "straight" / "metrics.jsonl")
    b = read_records(part / "metrics.jsonl")
    assert [r["epoch"] for r in b] == [1, 2, 3, 4]
    # Same data order, RNG, optimizer and controller state: the run goes on as if never stopped.
    assert b[2]["val_loss"] == pytest.approx(a[2]["val_loss"], rel=1e-5)
    assert b[3]["train_loss"] == pytest.approx(a[3]["train_loss"], rel=1e-5)
    assert b[3]["val_loss"] == pytest.approx(a[3]["val_loss"], rel=1e-5)
    assert b[3]["lr"] == pytest.approx(a[3]["lr"], rel=1e-9)
    assert straight["steps"] == resumed["steps"]
    state = load_checkpoint(part / "checkpoints" / "last.pt")
    assert state["epoch"] == 4


@pytest.mark.parametrize("call", [1, 3], ids=["first-step-of-the-run", "first-step-of-epoch-2"])
def test_ctrl_c_inside_a_first_step_then_resume_equals_the_uninterrupted_run(
    corpus, cache_dir, tmp_path, monkeypatch, call
):
    """Before the epoch's first step has finished, nothing of the epoch is kept: the resumed
    run starts it again from the same RNG and BatchNorm statistics, so every epoch matches."""
    train(tiny_config(cache_dir, epochs=3), corpus, tmp_path / "straight")
    part = tmp_path / "part"
    with monkeypatch.context() as patch:
        interrupt_at_training_call(patch, call)  # 2 batches per epoch
        stopped = train(tiny_config(cache_dir, epochs=3), corpus, part)
    assert stopped["stop_reason"] == "interrupted"
    assert stopped["epochs_run"] == (call - 1) // 2
    train(tiny_config(cache_dir, epochs=3), corpus, part, resume=True)
    a = read_records(tmp_path / "straight" / "metrics.jsonl")
    b = read_records(part / "metrics.jsonl")
    assert [r["epoch"] for r in b] == [1, 2, 3]
    for x, y in zip(a, b, strict=True):
        for key in ("train_loss", "val_loss", "attention_score", "lr"):
            assert y[key] == pytest.approx(x[key], rel=1e-5), (x["epoch"], key)


class ProcessDied(BaseException):
    """Stands for kill -9: nothing after it runs in the process (no mid-epoch save)."""


def test_a_run_that_died_after_a_checkpoint_resumes_to_the_uninterrupted_result(
    corpus, cache_dir, tmp_path
):
    """kill -9 leaves the last epoch's checkpoint; the resumed run ends where the
    uninterrupted one ends (the subprocess version: test_kill_and_resume.py)."""
    from smart_tuner.events import CheckpointSaved

    straight = train(tiny_config(cache_dir, epochs=4), corpus, tmp_path / "straight")

    def die_after_epoch_2(event) -> None:
        if isinstance(event, CheckpointSaved) and event.epoch == 2 and not event.is_best:
            raise ProcessDied

    part = tmp_path / "part"
    with pytest.raises(ProcessDied):
        train(tiny_config(cache_dir, epochs=4), corpus, part, listeners=[die_after_epoch_2])
    resumed = train(tiny_config(cache_dir, epochs=4), corpus, part, resume=True)
    a = read_records(tmp_path / "straight" / "metrics.jsonl")
    b = read_records(part / "metrics.jsonl")
    assert [r["epoch"] for r in b] == [1, 2, 3, 4]
    for x, y in zip(a, b, strict=True):
        assert y["val_loss"] == pytest.approx(x["val_loss"], rel=1e-5), x["epoch"]
    assert resumed["best_val_loss"] == pytest.approx(straight["best_val_loss"], rel=1e-5)
    assert resumed["steps"] == straight["steps"]


def test_ctrl_c_during_validation_then_resume_reports_the_whole_epoch(
    corpus, cache_dir, tmp_path, monkeypatch
):
    """Every batch of the epoch was trained before Ctrl-C: the resumed epoch trains none, and
    must still report the epoch's train_loss (a NaN here once looked like divergence)."""
    train(tiny_config(cache_dir, epochs=3), corpus, tmp_path / "s")
    straight = read_records(tmp_path / "s" / "metrics.jsonl")
    part = tmp_path / "part"
    calls = {"n": 0}
    original = Tacotron2Loss.forward

    def forward(self, output, *args, **kwargs):
        if not output.mel_outputs.requires_grad:
            calls["n"] += 1
            if calls["n"] == 2:  # epoch 2's validation
                raise KeyboardInterrupt
        return original(self, output, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Tacotron2Loss, "forward", forward)
        stopped = train(tiny_config(cache_dir, epochs=3), corpus, part)
    assert stopped["stop_reason"] == "interrupted" and stopped["epochs_run"] == 1
    resumed = train(tiny_config(cache_dir, epochs=3), corpus, part, resume=True)
    assert resumed["epochs_run"] == 3
    records = read_records(part / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[1]["train_loss"] == pytest.approx(straight[1]["train_loss"], rel=1e-5)
    assert records[1]["nonfinite_steps"] == 0
    assert records[2]["lr"] == pytest.approx(straight[2]["lr"], rel=1e-9)  # no rollback


def test_resume_after_a_torn_metrics_line(corpus, cache_dir, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(cache_dir, epochs=1), corpus, run)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"event": "epoch_ended", "epoch": 2, "train_lo')  # killed mid-write
    train(tiny_config(cache_dir, epochs=2), corpus, run, resume=True)
    assert [r["epoch"] for r in read_records(run / "metrics.jsonl")] == [1, 2]


def test_broken_entries_are_skipped_and_reported(tmp_path, cache_dir):
    root = make_corpus(tmp_path / "corpus", n=10)
    shutil.copy(root / "wavs" / "utt000.wav", tmp_path / "outside.wav")
    (root / "wavs" / "utt001.wav").unlink()
    meta = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()
    meta[2] = "utt002|"
    meta.append("../../outside|A file outside the dataset.")
    (root / "metadata.csv").write_text("\n".join(meta) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    summary = train(tiny_config(cache_dir, epochs=1), root, run)
    assert summary["epochs_run"] == 1
    reasons = {item["item"]: item["reason"] for item in summary["skipped_items"]}
    assert len(reasons) == 3, reasons
    text = " ".join(f"{k} {v}" for k, v in reasons.items()).lower()
    assert "utt001" in text and "not found" in text
    assert "utt002" in text and "empty" in text
    assert "outside" in text and "leaves the dataset folder" in text


@pytest.mark.parametrize(("gate", "expected"), [(0.0, {0.5}), (1.0, {0.0})])
def test_entropy_term_waits_for_a_diagonal_alignment(
    corpus, cache_dir, tmp_path, monkeypatch, gate, expected
):
    """Training steps get the entropy weight only once validation diagonality reached the
    gate (1.0 is never reached by an untrained model); validation always gets 0."""
    seen: list[tuple[bool, float | None]] = []
    original = Tacotron2Loss.forward

    def forward(self, output, *args, **kwargs):
        seen.append((output.mel_outputs.requires_grad, args[5] if len(args) > 5 else None))
        return original(self, output, *args, **kwargs)

    monkeypatch.setattr(Tacotron2Loss, "forward", forward)
    config = tiny_config(
        cache_dir,
        epochs=2,
        attention_entropy_weight=0.5,
        attention_entropy_min_diagonality=gate,
    )
    train(config, corpus, tmp_path / "run")
    assert {w for grad, w in seen if grad} == expected
    assert {w for grad, w in seen if not grad} == {0.0}


def test_periodic_audio_samples_leave_the_training_unchanged(corpus, cache_dir, tmp_path):
    quiet = train(tiny_config(cache_dir, epochs=3, audio_sample_minutes=0), corpus, tmp_path / "q")
    spoken_dir = tmp_path / "spoken"
    spoken = train(tiny_config(cache_dir, epochs=3, audio_sample_minutes=1e-6), corpus, spoken_dir)
    # one sample per epoch (the tiny model never stops, so each leaves its alignment plot)
    plots = sorted(p.name for p in (spoken_dir / "samples").glob("*.alignment.png"))
    assert plots == [f"validation_e{e:05d}.alignment.png" for e in (1, 2, 3)]
    quiet_plots = sorted(p.name for p in (tmp_path / "q" / "samples").glob("*.alignment.png"))
    assert quiet_plots == ["validation_e00003.alignment.png"]  # 0: only the final sample
    # synthesis reseeds the random generator: the training after a sample must not notice
    a = read_records(tmp_path / "q" / "metrics.jsonl")
    b = read_records(spoken_dir / "metrics.jsonl")
    assert [r["train_loss"] for r in b] == pytest.approx([r["train_loss"] for r in a], rel=1e-6)
    assert spoken["best_val_loss"] == pytest.approx(quiet["best_val_loss"], rel=1e-6)


def test_a_listener_can_end_the_run_after_an_epoch(corpus, cache_dir, tmp_path):
    from smart_tuner.events import EpochEnded, StopRun

    seen: list[int] = []

    def pruner(event):
        if isinstance(event, EpochEnded):
            seen.append(event.epoch)
            if event.epoch == 2:
                raise StopRun("trial pruned at epoch 2")

    run = tmp_path / "run"
    summary = train(tiny_config(cache_dir, epochs=5), corpus, run, listeners=[pruner])
    assert seen == [1, 2]
    assert summary["epochs_run"] == 2
    assert summary["stop_reason"] == "pruned"
    assert [r["epoch"] for r in read_records(run / "metrics.jsonl")] == [1, 2]
    assert (run / "checkpoints" / "last.pt").is_file()
