"""One event stream for a training run.

The loop emits events; trackers (metrics.jsonl, console, later MLflow / TensorBoard / history)
subscribe. Adding a tracker never touches the loop. A listener that fails is reported once and
then ignored, so a broken tracker never stops training.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("smart_tuner")


@dataclass
class Event:
    """Base class; `kind` names the event in metrics.jsonl."""

    kind = "event"

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
class RunFinished(Event):
    kind = "run_finished"
    summary: dict[str, Any]


Listener = Callable[[Event], None]


class StopRun(Exception):  # noqa: N818 - a request, not an error
    """Raised by a listener (a search's pruner, a user hook) on `EpochEnded` to end the run.

    The loop saves the epoch's checkpoint and finishes normally with `stop_reason`; every other
    exception from a listener only disables that listener.
    """

    def __init__(self, reason: str, stop_reason: str = "pruned") -> None:
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
