"""What the controller remembers and reads, as plain data.

`ControllerState` holds the shared signals and counters, JSON types only; each rule keeps its
own slice beside it (control/rules), and `TrainingController.state_dict()` is both as dicts, so
a resumed run continues exactly. The small helpers here turn a
metrics.jsonl record into numbers and smooth them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smart_tuner.control.curve import CurveFit
from smart_tuner.control.decision import Decision
from smart_tuner.events import EpochRecord


def read_number(record: Mapping[str, Any], key: str) -> float | None:
    """record[key] as a float (NaN/Inf kept: they mean something), None if absent or junk."""
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def ema(previous: float | None, value: float, alpha: float) -> float:
    """Exponential moving average; the first value starts it."""
    return value if previous is None else previous + alpha * (value - previous)


def trend(epochs: list[float], values: list[float]) -> tuple[float, float, float] | None:
    """Least-squares slope of values over epochs, its t statistic and the mean level."""
    n = len(values)
    if n < 5:
        return None
    mx, my = sum(epochs) / n, sum(values) / n
    sxx = sum((x - mx) ** 2 for x in epochs)
    if sxx <= 0 or my <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(epochs, values, strict=True)) / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(epochs, values, strict=True))
    se = math.sqrt(resid / (n - 2) / sxx)
    t = slope / se if se > 0 else math.copysign(math.inf, slope) if slope else 0.0
    return slope, t, my


@dataclass
class EpochMetrics:
    """The record fields the controller reads; None = absent (or non-finite for non-losses)."""

    train_loss: float | None
    val_loss: float | None
    grad_norm: float | None
    attention: float | None
    diagonality: float | None
    gate_accuracy: float | None
    premature_stop_rate: float | None
    nonfinite_steps: float
    steps: float | None
    epoch_seconds: float | None
    oom_steps: float

    @classmethod
    def read(cls, record: Mapping[str, Any], last_step: float | None, epoch: int) -> EpochMetrics:
        """From a metrics.jsonl record (an `EpochRecord`'s keys; `gate_premature_rate` and
        `oom_steps` are optional extras the loop may add)."""
        r = EpochRecord.from_mapping({**record, "epoch": epoch})
        step = finite(r.step)
        steps = None
        if step is not None:
            if last_step is not None and step > last_step:
                steps = step - last_step
            elif last_step is None and epoch == 1:
                steps = step
        return cls(
            train_loss=r.train_loss,
            val_loss=r.val_loss,
            grad_norm=finite(r.grad_norm),
            attention=finite(r.attention_score),
            diagonality=finite(r.diagonality),
            gate_accuracy=finite(r.gate_accuracy),
            premature_stop_rate=finite(r.gate_premature_rate),
            nonfinite_steps=finite(r.nonfinite_steps) or 0.0,
            steps=steps,
            epoch_seconds=finite(r.epoch_seconds),
            oom_steps=finite(r.oom_steps) or 0.0,
        )

    @property
    def nonfinite_share(self) -> float | None:
        """Share of this epoch's optimizer steps that were NaN/Inf (None: steps unknown)."""
        if self.steps and self.steps > 0:
            return min(1.0, self.nonfinite_steps / self.steps)
        return None


@dataclass
class ControllerState:
    """The signals and counters every rule may read: plain JSON types only (see state_dict)."""

    last_epoch: int = 0
    last_step: float | None = None
    last_elapsed: float = 0.0
    last_epoch_cost: float | None = None
    epoch_cost: float | None = None  # smoothed wall seconds per epoch, for the budget
    effective_end: int = 0  # the plan's end after budget re-planning
    attempt_start: int = 0  # epoch the current attempt (run or restart) began
    phase: str = "alignment"
    alignment_since: int = 0
    phase_history: list[dict[str, Any]] = field(default_factory=list)
    # smoothed metrics of this attempt
    val_ema: float | None = None
    train_ema: float | None = None
    att_ema: float | None = None
    diag_ema: float | None = None
    gate_ema: float | None = None
    gate_best: float | None = None
    # run-wide best raw validation loss: the loop's best.pt
    last_val: float | None = None
    best_val: float | None = None
    best_epoch: int | None = None
    # early stopping and plateau (this attempt)
    ref_val: float | None = None
    ref_epoch: int = 0
    patience_origin: int = 0
    plateau_armed: bool = True
    quiet_until: int = 0
    # over-fitting
    min_val_ema: float | None = None
    min_val_epoch: int = 0
    train_at_min: float | None = None
    overfit_epochs: int = 0
    # free-running quality of held-out sentences (the quality monitor): [epoch, mel_quality]
    quality: list[list[float]] = field(default_factory=list)
    stop_held_at: float | None = None  # the measurement epoch a stop was last held for
    # attention
    aligned_once: bool = False
    aligned_at: float | None = None  # epoch the attention first formed in this attempt
    diag_formed: bool = False
    collapse_epochs: int = 0
    # gradients and non-finite steps
    grad_window: list[float] = field(default_factory=list)
    high_grad_epochs: int = 0
    skipped_step_epochs: int = 0
    nonfinite_in_a_row: int = 0
    last_good_epoch: int = 0
    train_window: list[float] = field(default_factory=list)
    # learning rate and batch size
    lr_base: float = 0.0
    lr_factor: float = 1.0  # product of the reductions since the attempt began
    lr_ceiling: float | None = None  # an LR that proved unstable is never reached again
    batch_size: int = 0
    restart_segment: list[float] | None = None  # [start, warmup, from_factor, peak_factor]
    rewarm: list[float] | None = None  # [start, warmup] after an optimizer reset
    last_lr_change: int | None = None
    guided_attention_factor: float = 1.0
    guided_attention_start_step: float = 0.0  # its per-step decay restarts with each attempt
    # counters
    restarts: int = 0
    lr_restarts: int = 0
    attention_resets: int = 0
    rollbacks: int = 0
    lr_reductions: int = 0
    batch_changes: int = 0
    # what happened
    decisions: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    fit_start: int = 0
    history: list[list[float]] = field(default_factory=list)  # [epoch, raw val_loss]
    first_prediction: dict[str, Any] | None = None
    latest_prediction: dict[str, Any] | None = None
    stop_reason: str | None = None
    stop_epoch: int | None = None


@dataclass
class EpochContext:
    """Per-epoch values derived from the record (not state: recomputed every epoch)."""

    metrics: EpochMetrics
    elapsed: float
    grad_base: float | None = None
    # The training loss rose above its smoothed value: a gradient spike that hurt (with
    # clipping and Adam most spikes do not, and cutting the LR for them slows learning).
    loss_rose: bool = True
    stop: Decision | None = None
    info: list[Decision] = field(default_factory=list)
    actions: list[Decision] = field(default_factory=list)
    report: Decision | None = None


@dataclass
class Prediction:
    """S25: where the fitted curve says early stopping will end the run, and at what loss."""

    fit: CurveFit
    stop_epoch: int
    final_val_loss: float
    convergence_epoch: int | None

    def to_dict(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "predicted_stop_epoch": self.stop_epoch,
            "predicted_final_val_loss": round(self.final_val_loss, 6),
            "predicted_convergence_epoch": self.convergence_epoch,
            "fit": self.fit.to_dict(),
        }
