"""Trackers: listeners on a run's event stream (S16-S21).

    bus = trainer.bus                       # already holds the JsonlWriter (metrics.jsonl)
    attach_trackers(bus, run_dir, config)   # + smart_tuner.log, history DB, TensorBoard, MLflow

Each tracker is a callable taking an `Event`, with `close()`; the bus disables one that raises
(one warning) and training goes on. A tracker that cannot even start (MLflow store
unreachable, history file unreadable) is left out with one warning. Adding another tracker
(W&B, ...) is one more class here.

| tracker | writes | config |
|---|---|---|
| `RunLogFile` | `smart_tuner.log` (rotating) in the working directory | tracking.log_file |
| `HistoryRecorder` | `smart_tuner/epoch_optimizer_history.db` | tracking.history |
| `TensorBoardTracker` | RUN_DIR/tensorboard | tracking.tensorboard |
| `MlflowTracker` | the MLflow store (default sqlite `smart_tuner/mlflow.db`) | tracking.mlflow |

Relative paths in the config are relative to the working directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smart_tuner.config import Config
from smart_tuner.events import EventBus
from smart_tuner.history_learning import (
    EpochCorrection,
    dataset_fingerprint,
    learn_epoch_correction,
    profile_features_of,
    profile_similarity,
    run_profile_params,
)
from smart_tuner.track._util import resolve_path
from smart_tuner.track.history import HistoryDB, HistoryRecorder
from smart_tuner.track.log_file import RunLogFile

log = logging.getLogger("smart_tuner")

__all__ = [
    "EpochCorrection",
    "HistoryDB",
    "attach_trackers",
    "dataset_fingerprint",
    "epoch_correction",
    "learn_epoch_correction",
    "profile_features_of",
    "profile_similarity",
    "run_profile_params",
]


def attach_trackers(
    bus: EventBus,
    run_dir: Path,
    config: Config,
    *,
    parent_run_id: str | None = None,
    nested_name: str | None = None,
) -> list[Any]:
    """Subscribe every enabled tracker to `bus`; returns the listeners attached.

    `parent_run_id` (from `mlflow_tracker.start_parent_run`) nests this run under a parent
    MLflow run (a trial or a restart); `nested_name` names it ("trial-3", "restart-1").
    Pass the config the run really uses (on resume: the Trainer's, whose model section comes
    from the checkpoint).
    """
    run_dir = Path(run_dir)
    tracking = config.tracking
    makers: list[tuple[str, Callable[[], Any]]] = []
    if tracking.log_file.enabled:
        makers.append(
            (
                "log file",
                lambda: RunLogFile(
                    resolve_path(tracking.log_file.path),
                    run_dir,
                    max_bytes=tracking.log_file.max_bytes,
                    backup_count=tracking.log_file.backup_count,
                ),
            )
        )
    if tracking.mlflow.enabled:

        def make_mlflow() -> Any:
            from smart_tuner.track.mlflow_tracker import MlflowTracker

            return MlflowTracker(
                run_dir, config, parent_run_id=parent_run_id, nested_name=nested_name
            )

        makers.append(("MLflow", make_mlflow))
    if tracking.tensorboard.enabled:

        def make_tensorboard() -> Any:
            from smart_tuner.track.tensorboard_tracker import TensorBoardTracker

            return TensorBoardTracker(run_dir, config)

        makers.append(("TensorBoard", make_tensorboard))
    if tracking.history.enabled:
        makers.append(
            (
                "history",
                lambda: HistoryRecorder(
                    resolve_path(tracking.history.path),
                    run_dir,
                    parent_run_id=parent_run_id,
                    nested_name=nested_name,
                ),
            )
        )
    attached = []
    for name, make in makers:
        try:
            listener = make()
        except Exception as exc:  # a tracker must never stop training
            log.warning("tracker %s could not start and is off for this run: %s", name, exc)
            continue
        bus.subscribe(listener)
        attached.append(listener)
    return attached


def epoch_correction(
    config: Config, features: dict[str, Any], *, base_confidence: float = 0.5
) -> EpochCorrection:
    """The history's correction for a dataset profile (for the recommendation module).

    Reads the configured history database; a missing or unreadable one gives factor 1.0.
    """
    path = resolve_path(config.tracking.history.path)
    if not config.tracking.history.enabled or not path.exists():
        return learn_epoch_correction(features, [], base_confidence=base_confidence)
    try:
        rows = HistoryDB(path).runs()
    except Exception as exc:
        log.warning("history database %s unreadable, no correction: %s", path, exc)
        rows = []
    return learn_epoch_correction(features, rows, base_confidence=base_confidence)
