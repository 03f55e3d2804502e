"""NaN/Inf epochs: roll back to the last good checkpoint with a lower LR, else restart or stop.

Not in the priority chain: a broken epoch's metrics feed no other rule, so this is the only
rule that runs on one.
"""

from __future__ import annotations

import math

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext, EpochMetrics
from smart_tuner.control.view import View
from smart_tuner.events import StopReason

HARD_NONFINITE_SHARE = 0.5  # half the steps NaN/Inf: the epoch did not really train


class NonFinite(Rule):
    name = "nan"

    def broken(self, epoch: int, m: EpochMetrics, view: View) -> str | None:
        """Why this epoch's record is broken (NaN/Inf), or None when it is usable."""
        bad = []
        if m.train_loss is not None and not math.isfinite(m.train_loss):
            bad.append(f"train_loss {m.train_loss}")
        if m.val_loss is not None and not math.isfinite(m.val_loss):
            bad.append(f"val_loss {m.val_loss}")
        share = m.nonfinite_share
        # The first epoch of an attempt is exempt: AMP's loss scaler calibrates there.
        if (
            share is not None
            and share >= HARD_NONFINITE_SHARE
            and epoch - view.state.attempt_start > 1
        ):
            bad.append(f"{m.nonfinite_steps:.0f} of {m.steps:.0f} steps NaN/Inf")
        return ", ".join(bad) or None

    def respond(self, epoch: int, what: str, now: EpochContext, view: View, levers: Levers) -> None:
        s, h, config = view.state, view.horizon, view.config
        reason = f"non-finite training at epoch {epoch} ({what})"
        if not config.training_recovery.enabled:
            now.stop = levers.stop(StopReason.DIVERGED, reason + "; recovery is disabled")
            return
        nothing_good = s.last_good_epoch <= s.attempt_start
        if nothing_good or s.nonfinite_in_a_row > config.control.max_rollbacks_in_a_row:
            why = (
                "no finite epoch to roll back to"
                if nothing_good
                else f"{s.nonfinite_in_a_row} broken epochs in a row despite rollbacks"
            )
            if view.can_restart(epoch):
                levers.restart(epoch, f"{reason}: {why}", now)
            else:
                now.stop = levers.stop(
                    StopReason.DIVERGED, f"{reason}: {why}, and no restart is left"
                )
            return
        factor = config.training_recovery.recovery_strategies.reduce_lr.factor
        before, lr = levers.lower_lr(epoch, factor, unstable=True)
        levers.rolled_back(epoch, h.cooldown)
        now.actions.append(
            Decision(
                Action.ROLLBACK,
                f"{reason}: roll back to the last good checkpoint (epoch {s.last_good_epoch}) "
                f"and lower the learning rate × {factor:g}: {before:.3g} → {lr:.3g}",
                {"to_epoch": s.last_good_epoch, "lr": lr, "previous_lr": before, "factor": factor},
            )
        )

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        return False  # acts through `respond`, on broken epochs only
