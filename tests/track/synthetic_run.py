"""A synthetic training run as an event sequence (no torch, no model): what the loop emits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import soundfile as sf

from smart_tuner.config import Config, load_config
from smart_tuner.events import (
    ArtifactSaved,
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    Event,
    EventBus,
    RunFinished,
    RunStarted,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PROFILE = {
    "dataset_fingerprint": "fp-demo-en",
    "dataset_hours": 0.4,
    "quality_percent": 85.0,
    "complexity_level": "simple",
    "recommended_epochs": 4000,
    "table_epochs": 4000,
}


def tracking_config(tmp: Path, mlflow_uri: str | None = None, **sections: Any) -> Config:
    """Defaults with every tracking file under `tmp` (MLflow off unless a URI is given)."""
    overrides: dict[str, Any] = {
        "tracking.log_file.path": str(tmp / "smart_tuner.log"),
        "tracking.history.path": str(tmp / "smart_tuner" / "history.db"),
        "tracking.mlflow.enabled": mlflow_uri is not None,
        "tracking.mlflow.tracking_uri": mlflow_uri,
        "training.batch_size": 16,
    }
    overrides.update(sections)
    return load_config(None, overrides)


def metrics_for(epoch: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed * 1000 + epoch)
    val = 1.0 / math.sqrt(epoch) + 0.3 + 0.01 * float(rng.random())
    return {
        "train_loss": val - 0.05,
        "grad_norm": 1.5,
        "grad_norm_max": 3.0,
        "nonfinite_steps": 0.0,
        "lr": 1e-3,
        "guided_attention_weight": 5.0,
        "batch_size": 16.0,
        "frames_per_second": 1200.0,
        "train_seconds": 2.0,
        "step": float(epoch * 10),
        "val_loss": val,
        "val_mel_loss": val / 2,
        "val_postnet_loss": val / 3,
        "val_gate_loss": val / 6,
        "attention_score": min(1.0, 0.2 + 0.05 * epoch),
        "diagonality": min(1.0, 0.3 + 0.05 * epoch),
        "gate_accuracy": 0.9,
        "epoch_seconds": 2.5,
    }


def _png(path: Path, epoch: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.outer(np.arange(12), np.arange(16)) * (epoch + 1) % 7, cmap="viridis")
    return path


def _wav(path: Path, epoch: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(2205) / 22050
    sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + epoch) * t)).astype(np.float32), 22050)
    return path


def run_events(
    run_dir: Path,
    epochs: range,
    *,
    params: dict[str, Any] | None = None,
    resumed_from: int = 0,
    stop_reason: str = "epochs_completed",
    decisions: dict[int, tuple[str, str]] | None = None,
    wav_at: int | None = None,
    seed: int = 0,
) -> list[Event]:
    """The events of epochs `epochs` (1-based) of a run, with pictures, decisions, the end."""
    params = {"preset": "small", "batch_size": 16, "train_items": 40, **PROFILE, **(params or {})}
    decisions = decisions or {}
    events: list[Event] = [RunStarted(str(run_dir), params, resumed_from_epoch=resumed_from)]
    best_loss, best_epoch = math.inf, 0
    ckpt = run_dir / "checkpoints"
    for epoch in epochs:
        m = metrics_for(epoch, seed)
        events.append(CheckpointSaved(epoch, str(ckpt / "last.pt"), False))
        if m["val_loss"] < best_loss:
            best_loss, best_epoch = m["val_loss"], epoch
            best = ckpt / "best.pt"
            best.parent.mkdir(parents=True, exist_ok=True)
            best.write_bytes(b"checkpoint")
            events.append(CheckpointSaved(epoch, str(best), True))
        events.append(EpochEnded(epoch, m))
        for kind in ("alignment", "mel"):
            png = _png(run_dir / "plots" / f"{kind}_latest.png", epoch)
            events.append(ArtifactSaved(epoch, str(png), kind))
        if epoch == wav_at:
            wav = _wav(run_dir / "samples" / "sample.wav", epoch)
            events.append(ArtifactSaved(epoch, str(wav), "sample"))
        if epoch in decisions:
            action, reason = decisions[epoch]
            events.append(DecisionMade(epoch, action, reason, {"lr": 5e-4}))
    last = epochs[-1] if len(epochs) else resumed_from
    summary = {
        "epochs_run": last,
        "best_epoch": best_epoch,
        "best_val_loss": best_loss,
        "final_val_loss": metrics_for(last, seed)["val_loss"] if last else None,
        "attention_score": 0.8,
        "diagonality": 0.8,
        "gate_accuracy": 0.9,
        "stop_reason": stop_reason,
        "wall_seconds": 2.5 * len(epochs),
        "checkpoint": str(ckpt / "best.pt"),
        "decisions": [],
    }
    events.append(RunFinished(summary))
    return events


def emit_all(bus: EventBus, events: list[Event], *, close: bool = True) -> None:
    for event in events:
        bus.emit(event)
    if close:
        bus.close()
