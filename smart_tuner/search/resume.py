"""A re-queued trial continues its predecessor's run instead of starting over.

A trial whose worker was killed (failed by the heartbeat check and re-queued) or cut short by
Ctrl-C or SIGTERM (re-queued) had trained some epochs and checkpointed each one: minutes on
a CPU, hours on a GPU. Its retry has the same parameters, so it resumes the predecessor's run
folder from the last checkpoint, and first tells Optuna and the pruning rule the epochs
already trained, as if the trial had never stopped. One run folder then holds the trial's
whole curve (metrics, checkpoints, the MLflow run re-opened).

When the predecessor's folder has no checkpoint here (it died before its first epoch ended,
or it ran on another machine's disk), the retry starts afresh in its own folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optuna.trial import FrozenTrial

from smart_tuner.events import read_records
from smart_tuner.search.budget import REQUEUED_FROM

RESUMED_FROM = "resumed_from"  # user attribute: the trial whose run this one continued
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"


@dataclass(frozen=True)
class ResumableRun:
    predecessor: int  # the trial number whose run is continued
    run_dir: Path


def predecessor_of(trial: FrozenTrial) -> int | None:
    """The trial this one re-runs: the last of its heartbeat retry history (Optuna's
    `RetryHeartbeatStaleTrialCallback`), else the one Ctrl-C cut short."""
    history = trial.system_attrs.get("retry_history") or []
    if history:
        return int(history[-1])
    value = trial.user_attrs.get(REQUEUED_FROM)
    return None if value is None else int(value)


def resumable_run(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> ResumableRun | None:
    """The predecessor's run folder when it holds a checkpoint on this machine."""
    number = predecessor_of(trial)
    if number is None:
        return None
    before = next((t for t in trials if t.number == number), None)
    folder = before.user_attrs.get("run_dir") if before is not None else None
    if not folder or not (Path(folder) / LAST_CHECKPOINT).is_file():
        return None
    return ResumableRun(number, Path(folder))


def trained_epochs(run_dir: Path, before: int | None = None) -> list[tuple[int, dict[str, float]]]:
    """The run's epoch records in metrics.jsonl (epoch, numeric metrics), oldest first; only
    those before epoch `before` when given."""
    epochs: dict[int, dict[str, float]] = {}
    for record in read_records(run_dir / "metrics.jsonl"):
        epoch = int(record.get("epoch", 0) or 0)
        if epoch >= 1 and (before is None or epoch < before):
            epochs[epoch] = {
                k: float(v)
                for k, v in record.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
    return sorted(epochs.items())
