"""The detailed log file (S20): `smart_tuner.log` in the working directory, rotating.

One human-readable line per run start and finish, per epoch (the main metrics), per best
checkpoint, per sound sample, and per decision with its full reason. Warnings of the
`smart_tuner` logger (e.g. a tracker that failed) go to the same file while a run is open.

Example lines:
    2025-05-01 12:00:00 INFO    [train-1] run started in runs/train-1: batch_size=16 ...
    2025-05-01 12:03:10 INFO    [train-1] epoch 12: train_loss 0.5120  val_loss 0.6010 ...
    2025-05-01 12:03:10 NOTICE  [train-1] epoch 12 DECISION set_lr: grad norm 14.2 > 10.0 ...
    2025-05-01 14:00:00 INFO    [train-1] run finished (early_stopping): 840 epochs ...

Several processes may append to the same file (parallel trials); rotation is then per process
(RotatingFileHandler is not multi-process aware), which at worst rotates early.
"""

from __future__ import annotations

import json
import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from smart_tuner.events import (
    ArtifactSaved,
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    Event,
    QualityMeasured,
    RunFinished,
    RunStarted,
)
from smart_tuner.track._util import flatten

NOTICE = logging.INFO + 5
logging.addLevelName(NOTICE, "NOTICE")
FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
EPOCH_KEYS = (
    "train_loss",
    "val_loss",
    "attention_score",
    "diagonality",
    "gate_accuracy",
    "grad_norm",
    "lr",
    "epoch_seconds",
)


class RunLogFile:
    """Listener: appends the run's story to a rotating log file."""

    __name__ = "log_file"

    def __init__(
        self,
        path: Path,
        run_dir: Path,
        *,
        max_bytes: int = 10_000_000,
        backup_count: int = 5,
        capture_warnings: bool = True,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(run_dir)
        self.label = self.run_dir.name
        self.handler = RotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        self.handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
        # A private logger (not registered with logging's manager): records go to this file only.
        self.logger = logging.Logger(f"smart_tuner.runlog.{self.label}", logging.DEBUG)
        self.logger.addHandler(self.handler)
        self._captured: logging.Logger | None = None
        self._warning_handler: logging.Handler | None = None
        if capture_warnings:
            self._warning_handler = _LevelHandler(self.handler, logging.WARNING, self.label)
            self._captured = logging.getLogger("smart_tuner")
            self._captured.addHandler(self._warning_handler)

    def _line(self, level: int, text: str) -> None:
        self.logger.log(level, "[%s] %s", self.label, text)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            params = " ".join(f"{k}={v}" for k, v in flatten(event.params).items())
            resumed = (
                f" (resumed after epoch {event.resumed_from_epoch})"
                if event.resumed_from_epoch
                else ""
            )
            self._line(logging.INFO, f"run started{resumed} in {event.run_dir}: {params}")
        elif isinstance(event, EpochEnded):
            parts = [f"{k} {_fmt(event.metrics[k], k)}" for k in EPOCH_KEYS if k in event.metrics]
            self._line(logging.INFO, f"epoch {event.epoch}: " + "  ".join(parts))
        elif isinstance(event, DecisionMade):
            extra = f" {json.dumps(event.params, default=str)}" if event.params else ""
            self._line(
                NOTICE, f"epoch {event.epoch} DECISION {event.action}: {event.reason}{extra}"
            )
        elif isinstance(event, CheckpointSaved):
            if event.is_best:
                self._line(logging.INFO, f"epoch {event.epoch} best checkpoint {event.path}")
        elif isinstance(event, ArtifactSaved):
            if not event.path.lower().endswith(".png"):  # pictures are replaced every epoch
                self._line(logging.INFO, f"epoch {event.epoch} {event.artifact}: {event.path}")
        elif isinstance(event, QualityMeasured):
            parts = "  ".join(f"{k} {_fmt(v, k)}" for k, v in event.metrics.items())
            self._line(logging.INFO, f"epoch {event.epoch} quality: {parts}")
        elif isinstance(event, RunFinished):
            self._line(logging.INFO, _finish_line(event.summary))

    def close(self) -> None:
        if self._captured is not None and self._warning_handler is not None:
            self._captured.removeHandler(self._warning_handler)
            self._captured = None
        self.logger.removeHandler(self.handler)
        self.handler.close()


class _LevelHandler(logging.Handler):
    """Forwards warnings of the package logger to the run's file, tagged with the run."""

    def __init__(self, target: logging.Handler, level: int, label: str) -> None:
        super().__init__(level)
        self.target = target
        self.label = label

    def emit(self, record: logging.LogRecord) -> None:
        copy = logging.makeLogRecord(record.__dict__)
        copy.msg = f"[{self.label}] {record.getMessage()}"
        copy.args = None
        self.target.handle(copy)


def _fmt(value: Any, key: str = "") -> str:
    if isinstance(value, float):
        small = key == "lr" or (value and abs(value) < 1e-3)
        return f"{value:.2e}" if small else f"{value:.4f}"
    return str(value)


def _finish_line(summary: dict[str, Any]) -> str:
    best = summary.get("best_val_loss")
    best_text = f"{best:.4f}" if isinstance(best, int | float) else "n/a"
    minutes = (summary.get("wall_seconds") or 0) / 60
    return (
        f"run finished ({summary.get('stop_reason')}): {summary.get('epochs_run')} epochs, "
        f"best val_loss {best_text} at epoch {summary.get('best_epoch')}, "
        f"{minutes:.1f} min, checkpoint {summary.get('checkpoint')}"
    )
