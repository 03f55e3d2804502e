"""A read-only view of the controller for its rules and its progress reporter.

Everything here is a question about the run so far (is the attention still forming? since when
has the loss not improved? would a restart still pay?) and changes nothing, so rules and the
reporter can ask the same questions and never contradict each other.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from smart_tuner.config import Config
from smart_tuner.control.plan import Horizon, TrainingPlan
from smart_tuner.control.quality_guard import Improvement, still_improving
from smart_tuner.control.state import ControllerState, trend

if TYPE_CHECKING:
    from smart_tuner.control.controller import TrainingController

TREND_T = 2.0  # a regression slope this many standard errors below 0 is real improvement


class View:
    """Questions about the run, answered from the controller's state, config and plan."""

    def __init__(self, controller: TrainingController) -> None:
        self._c = controller

    @property
    def config(self) -> Config:
        return self._c.config

    @property
    def plan(self) -> TrainingPlan:
        return self._c.plan

    @property
    def state(self) -> ControllerState:
        """The shared signals and counters (read them; change them only through the levers)."""
        return self._c.shared_state

    @property
    def horizon(self) -> Horizon:
        return self._c.horizon

    def learning_rate(self, epoch_progress: float) -> float:
        return self._c.learning_rate(epoch_progress)

    def schedule_shape(self, epoch_progress: float) -> float:
        return self._c.schedule_shape(epoch_progress)

    @property
    def lr_floor(self) -> float:
        return self._c.lr_bounds[0]

    @property
    def lr_restart_phases(self) -> list[str]:
        """Phases that already had their LR restart (the plateau rule's memory)."""
        plateau = self._c.rules.get("plateau")
        return list(getattr(plateau.state, "lr_restart_phases", [])) if plateau else []

    @property
    def explosion_threshold(self) -> float:
        t = self.config.training_recovery.problem_detection.gradient_explosion.threshold
        return 10.0 if t is None else t

    def cooled(self, last: int | None, epoch: int, epochs: int | None = None) -> bool:
        """Has the cool-down since `last` (an epoch that acted) passed?"""
        return last is None or epoch - last >= (self.horizon.cooldown if epochs is None else epochs)

    def val_gap(self) -> tuple[float, bool]:
        """(smoothed val_loss above its minimum, relative; train loss fell meanwhile)."""
        s = self.state
        if s.val_ema is None or not s.min_val_ema:
            return 0.0, False
        gap = s.val_ema / s.min_val_ema - 1.0
        margin = 1.0 - self.config.early_stopping.min_delta
        falling = (
            s.train_ema is not None and s.train_at_min is not None
        ) and s.train_ema < s.train_at_min * margin
        return gap, falling

    def overfitting_now(self, epoch: int) -> bool:
        detection = self.config.overfitting_detection
        if not detection.enabled or epoch < self.state.quiet_until:
            return False
        gap, falling = self.val_gap()
        return falling and gap >= detection.val_loss_increase_threshold

    def free_running_gain(self) -> Improvement | None:
        """The quality monitor's last significant gain, if the speech of held-out sentences
        improved within the phase's patience (this attempt's measurements); None when it did
        not, or the guard is off."""
        s, detection = self.state, self.config.overfitting_detection
        if not detection.quality_guard:
            return None
        measurements = [m for m in s.quality if m[0] >= s.attempt_start]
        patience = self.horizon.patience[s.phase]
        return still_improving(measurements, detection.quality_min_delta_db, s.last_epoch, patience)

    def waiting_for_alignment(self) -> bool:
        s = self.state
        return s.phase == "alignment" and s.att_ema is not None and not s.aligned_once

    def alignment_deadline(self) -> int:
        """One alignment phase after alignment (re)started."""
        h = self.horizon
        return self.state.alignment_since + (h.alignment_end - h.start)

    def patience_start(self) -> int:
        """Epochs without improvement count from the last significant improvement, an
        LR restart or rollback, and never from inside the LR warm-up."""
        s = self.state
        return max(s.ref_epoch, s.patience_origin, s.attempt_start + self.horizon.warmup)

    def curve_points(self, last: int | None = None) -> tuple[list[float], list[float]]:
        """The validation history the curve is fitted to (after `fit_start`), or its tail."""
        s = self.state
        first = bisect.bisect_right(s.history, s.fit_start, key=lambda item: item[0])
        if last is not None:
            first = max(first, len(s.history) - last)
        points = s.history[first:]
        return [e for e, _ in points], [v for _, v in points]

    def improving(self, epoch: int) -> bool:
        """Does a straight line through the last two patience windows of raw val_loss still
        fall by min_improvement per patience, significantly? Guards early stopping and LR
        restarts against a reference set by one lucky noisy epoch."""
        s, h = self.state, self.horizon
        patience = h.patience[s.phase]
        fall = trend(*self.curve_points(last=max(2 * patience, 12)))
        if fall is None:
            return False
        slope, t, level = fall
        return -slope * patience / level >= h.min_improvement[s.phase] and -t >= TREND_T

    def restart_fits(self, epoch: int, phase: str) -> bool:
        """An LR restart is worth it only if its warm-up and the phase's patience both fit
        before the phase ends: judging it under the next phase's stricter bar would keep the run
        going for nothing."""
        h = self.horizon
        if phase == "alignment":
            end = max(h.alignment_end, self.alignment_deadline())
        else:
            end = h.learning_end
        return min(end, self.state.effective_end) - epoch >= h.restart_warmup + h.patience[phase]

    def can_restart(self, epoch: int) -> bool:
        """Restarts left, and enough epochs left for the new attempt to get at least as far
        as the failed one did (else restarting only throws progress away)."""
        s = self.state
        recovery = self.config.training_recovery
        left = s.effective_end - epoch
        needed = max(4, 2 * self.horizon.cooldown, round(0.1 * s.effective_end))
        needed = max(needed, epoch - s.attempt_start)
        return recovery.enabled and s.restarts < recovery.max_restarts and left >= needed
