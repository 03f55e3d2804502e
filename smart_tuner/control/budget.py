"""The plan's end and the time budget: the smoothed cost of an epoch, re-planning the horizon
when the budget cuts it, and the stop when the plan is done or another epoch would overrun.

These override every rule: the last epoch only stops.
"""

from __future__ import annotations

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View
from smart_tuner.events import StopReason


def track_time(view: View, epoch: int, now: EpochContext) -> None:
    """Smoothed wall seconds per epoch; re-plan the horizon when the budget cuts it."""
    s, plan = view.state, view.plan
    delta = now.elapsed - s.last_elapsed if now.elapsed > s.last_elapsed else 0.0
    if delta <= 0.0:
        delta = now.metrics.epoch_seconds or 0.0
    s.last_elapsed = max(s.last_elapsed, now.elapsed)
    if delta > 0.0:
        s.last_epoch_cost = delta
        s.epoch_cost = delta if s.epoch_cost is None else 0.7 * s.epoch_cost + 0.3 * delta
    if plan.max_minutes is None or not s.epoch_cost:
        return
    left = plan.max_minutes * 60.0 - s.last_elapsed
    fits = epoch + max(0, int(left // s.epoch_cost))
    target = max(epoch + 1, min(plan.max_epochs, fits))
    current = s.effective_end
    if abs(target - current) > max(2, 0.1 * current) and epoch < 0.9 * current:
        s.effective_end = target
        now.info.append(
            Decision(
                Action.REPLAN,
                f"time budget {plan.max_minutes:g} min at ~{s.epoch_cost:.1f} s/epoch "
                f"fits ~{target} epochs (planned {plan.max_epochs}): phases and the "
                f"learning-rate schedule now span epochs {s.attempt_start}-{target}",
                {"effective_epochs": target, "previous": current},
            )
        )


def plan_stop(view: View, levers: Levers, epoch: int, now: EpochContext) -> Decision | None:
    """STOP when the planned epochs are done or another epoch would overrun the budget."""
    s, plan = view.state, view.plan
    if epoch >= plan.max_epochs:
        return levers.stop(
            StopReason.EPOCHS_COMPLETED, f"planned {plan.max_epochs} epochs completed"
        )
    if plan.max_minutes is not None and s.epoch_cost:
        limit = plan.max_minutes * 60.0
        next_cost = max(s.epoch_cost, s.last_epoch_cost or 0.0)
        if now.elapsed + next_cost > limit:
            return levers.stop(
                StopReason.BUDGET,
                f"time budget of {plan.max_minutes:g} min would be exceeded by another epoch "
                f"({now.elapsed / 60:.1f} min used, ~{next_cost:.0f} s/epoch)",
            )
    return None
