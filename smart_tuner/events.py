"""One event stream for a training run.

The loop emits events; trackers (metrics.jsonl, console, later MLflow / TensorBoard / history)
subscribe. Adding a tracker never touches the loop. A listener that fails is reported once and
then ignored, so a broken tracker never stops training.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger("smart_tuner")


class StopReason(StrEnum):
    """Why a run ended: the one list the loop, controller, trackers, history and replay use."""

    # decided by the controller
    CONVERGED = "converged"
    OVERFITTING = "overfitting"
    NO_IMPROVEMENT = "no_improvement"
    BUDGET = "budget"
    EPOCHS_COMPLETED = "epochs_completed"
    DIVERGED = "diverged"
    # decided outside it
    INTERRUPTED = "interrupted"  # Ctrl-C: a mid-epoch checkpoint, continue with --resume
    PRUNED = "pruned"  # a listener raised StopRun (a search's pruner)
    NOT_STARTED = "not_started"  # the run folder exists but no epoch ran

    @property
    def quality(self) -> bool:
        """The model itself said stop (not the plan, the clock or the user)."""
        return self in QUALITY_STOPS


CONTROLLER_STOPS = frozenset(
    {
        StopReason.CONVERGED,
        StopReason.OVERFITTING,
        StopReason.NO_IMPROVEMENT,
        StopReason.BUDGET,
        StopReason.EPOCHS_COMPLETED,
        StopReason.DIVERGED,
    }
)
QUALITY_STOPS = frozenset({StopReason.CONVERGED, StopReason.OVERFITTING, StopReason.NO_IMPROVEMENT})


@dataclass
class EpochRecord:
    """One epoch's numbers as the loop measures them (metrics.jsonl keys); None = not measured.

    The controller, replay, trackers and history read these names; a record read back from an
    older or hand-made metrics.jsonl may lack any of them, and unknown keys are kept in `extra`.
    """

    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_mel_loss: float | None = None
    val_postnet_loss: float | None = None
    val_gate_loss: float | None = None
    attention_score: float | None = None
    diagonality: float | None = None
    gate_accuracy: float | None = None
    gate_premature_rate: float | None = None
    grad_norm: float | None = None
    grad_norm_max: float | None = None
    nonfinite_steps: float | None = None
    oom_steps: float | None = None
    lr: float | None = None
    guided_attention_weight: float | None = None
    attention_entropy_weight: float | None = None
    batch_size: float | None = None
    frames_per_second: float | None = None
    train_seconds: float | None = None
    step: float | None = None
    epoch_seconds: float | None = None
    elapsed_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EpochRecord:
        """Tolerant: a missing or non-numeric value becomes None (NaN/Inf are kept)."""
        known = {f.name for f in fields(cls)} - {"epoch", "extra"}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                values[key] = _number(value)
            elif key not in ("epoch", "event"):
                extra[key] = value
        return cls(epoch=int(data["epoch"]), extra=extra, **values)

    def metrics(self) -> dict[str, Any]:
        """The measured values by name (what `EpochEnded.metrics` carries)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.pop("epoch")
        out.pop("extra")
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, **self.metrics()}


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


@dataclass
class Event:
    """Base class; `kind` names the event in metrics.jsonl (`persist = False`: not written)."""

    kind = "event"
    persist = True

    def to_record(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass
class RunStarted(Event):
    kind = "run_started"
    run_dir: str
    params: dict[str, Any]
    resumed_from_epoch: int = 0


@dataclass
class EpochEnded(Event):
    """One epoch's metrics: the record the controller, reports and trackers all read."""

    kind = "epoch_ended"
    epoch: int
    metrics: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        return {"event": self.kind, "epoch": self.epoch, **self.metrics}

    @property
    def record(self) -> EpochRecord:
        return EpochRecord.from_mapping({"epoch": self.epoch, **self.metrics})


@dataclass
class DecisionMade(Event):
    kind = "decision"
    epoch: int
    action: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointSaved(Event):
    kind = "checkpoint_saved"
    epoch: int
    path: str
    is_best: bool


@dataclass
class ArtifactSaved(Event):
    """A picture or sound made during the run (alignment PNG, mel PNG, WAV sample)."""

    kind = "artifact_saved"
    epoch: int
    path: str
    artifact: str


@dataclass
class ValidationSampled(Event):
    """The first validation utterance as the model saw it this epoch (numpy arrays), for the
    pictures; too big for metrics.jsonl, so not written there."""

    kind = "validation_sampled"
    persist = False
    epoch: int
    alignment: Any  # [decoder steps, symbols]
    target: Any  # mel [channels, frames]
    predicted: Any
    attention_score: float
    diagonality: float


@dataclass
class QualityMeasured(Event):
    """Free-running synthesis of held-out sentences scored during training (S16):
    `mel_quality` (MCD-DTW, dB, lower is better) and `audio_naturalness` (DNSMOS P.808 MOS)."""

    kind = "quality_measured"
    epoch: int
    metrics: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        return {"event": self.kind, "epoch": self.epoch, **self.metrics}


@dataclass
class RunFinished(Event):
    kind = "run_finished"
    summary: dict[str, Any]


Listener = Callable[[Event], None]


class StopRun(Exception):  # noqa: N818 - a request, not an error
    """Raised by a listener (a search's pruner, a user hook) on `EpochEnded` to end the run.

    The loop saves the epoch's checkpoint and finishes normally with `stop_reason`; every other
    exception from a listener only disables that listener.
    """

    def __init__(self, reason: str, stop_reason: str = StopReason.PRUNED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stop_reason = stop_reason


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._broken: set[int] = set()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        for index, listener in enumerate(self._listeners):
            if index in self._broken:
                continue
            try:
                listener(event)
            except StopRun:
                raise
            except Exception as exc:  # a tracker must never stop training
                self._broken.add(index)
                name = getattr(listener, "__name__", type(listener).__name__)
                log.warning("tracker %s failed and is disabled for this run: %s", name, exc)

    def close(self) -> None:
        for listener in self._listeners:
            close = getattr(listener, "close", None)
            if callable(close):
                close()


class JsonlWriter:
    """Appends every event to RUN_DIR/metrics.jsonl, flushed and fsynced per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def __call__(self, event: Event) -> None:
        if not event.persist:
            return
        self._file.write(json.dumps(event.to_record(), ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_records(path: Path, kind: str | None = "epoch_ended") -> list[dict[str, Any]]:
    """Read metrics.jsonl back; a torn last line (killed process) is ignored."""
    records = []
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if kind is None or record.get("event") == kind:
            records.append(record)
    return records
