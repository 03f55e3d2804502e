"""Skipped steps: too many NaN/Inf optimizer steps for several epochs; cut the LR."""

from __future__ import annotations

from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View

SKIPPED_STEPS_CONFIRM_EPOCHS = 2  # AMP skips a step now and then by design


class SkippedSteps(Rule):
    name = "skipped_steps"

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, config = view.state, view.config
        if s.skipped_step_epochs < SKIPPED_STEPS_CONFIRM_EPOCHS:
            return False
        if not config.training_recovery.enabled or not view.cooled(s.last_lr_change, epoch):
            return False
        m = now.metrics
        reason = (
            f"{m.nonfinite_steps:.0f} of {m.steps:.0f} optimizer steps were NaN/Inf and skipped, "
            f"{s.skipped_step_epochs} epochs in a row (tolerance "
            f"{config.control.nonfinite_step_tolerance:.0%})"
        )
        return levers.reduce_lr(epoch, reason, "nonfinite_steps", now)
