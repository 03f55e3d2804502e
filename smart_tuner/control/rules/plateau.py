"""Plateau: the loss stopped improving; restart when the attention never formed, else an LR
restart (or cut) once per phase. Early stopping (early_stop.py) runs right after it."""

from __future__ import annotations

from dataclasses import dataclass, field

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View


@dataclass
class PlateauState:
    deadline_done: bool = False  # the alignment deadline was judged (restart or not)
    lr_restart_phases: list[str] = field(default_factory=list)  # one LR restart per phase


def flat_text(view: View, since: int) -> str:
    s, h = view.state, view.horizon
    return (
        f"smoothed val_loss {s.val_ema:.4g} has not improved {h.min_improvement[s.phase]:.1%} on "
        f"{s.ref_val:.4g} (epoch {s.ref_epoch}) for {since} epochs"
    )


def stalled_but_improving(epoch: int, since: int, view: View) -> bool:
    """Noise set the reference; the trend still goes down."""
    h, phase = view.horizon, view.state.phase
    return since >= min(h.plateau_patience, h.patience[phase]) and view.improving(epoch)


class Plateau(Rule):
    name = "plateau"
    State = PlateauState

    def realign(self, epoch: int) -> None:
        self.state.deadline_done = False

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, h = view.state, view.horizon
        recovery = view.config.training_recovery
        if epoch < s.quiet_until or s.ref_val is None:
            return False
        since = epoch - view.patience_start()
        stuck = since >= h.patience["alignment"] and not view.improving(epoch)
        deadline = view.alignment_deadline()
        waiting = view.waiting_for_alignment()
        if waiting and epoch >= deadline and stuck and not self.state.deadline_done:
            # Past the deadline *and* no longer learning: a fresh start is the better bet.
            self.state.deadline_done = True
            if view.can_restart(epoch):
                threshold = h.attention_threshold["alignment"]
                levers.restart(
                    epoch,
                    f"attention has not formed by epoch {epoch} (smoothed score "
                    f"{s.att_ema:.2f} < {threshold:g} by the end of the alignment phase) "
                    f"and val_loss stopped improving {since} epochs ago",
                    now,
                    stronger_guidance=True,
                )
                return True
        if stalled_but_improving(epoch, since, view):
            return False
        plateau = recovery.problem_detection.loss_plateau.action
        gap, falling = view.val_gap()
        threshold = view.config.overfitting_detection.val_loss_increase_threshold
        rising = falling and gap >= threshold / 2
        if not (
            recovery.enabled
            and plateau != "none"
            and s.plateau_armed
            and since >= h.plateau_patience
            and s.phase != "fine_tuning"
            and s.phase not in self.state.lr_restart_phases
            and not rising  # a plateau made by over-fitting is not cured by a larger LR
            and view.cooled(s.last_lr_change, epoch)
            and view.restart_fits(epoch, s.phase)
        ):
            return False
        reason = f"loss plateau: {flat_text(view, since)} (plateau patience {h.plateau_patience})"
        if plateau == "lr_restart" and s.lr_restarts < recovery.max_restarts:
            self._lr_restart(epoch, reason, now, view, levers)
            return True
        cut = plateau == "reduce_lr"
        if cut and levers.reduce_lr(epoch, reason, "loss_plateau", now, unstable=False):
            levers.disarm_plateau(epoch)
            return True
        return False

    def _lr_restart(
        self, epoch: int, reason: str, now: EpochContext, view: View, levers: Levers
    ) -> None:
        s, h, recovery = view.state, view.horizon, view.config.training_recovery
        strategy = recovery.recovery_strategies.lr_restart
        before = view.learning_rate(epoch)
        origin = view.schedule_shape(epoch)
        levers.lr_restart(epoch, h.restart_warmup, strategy.peak_lr_factor, origin)
        self.state.lr_restart_phases.append(s.phase)
        peak = view.learning_rate(epoch + h.restart_warmup)
        now.actions.append(levers.checkpoint(epoch, "before_lr_restart"))
        now.actions.append(
            Decision(
                Action.LR_RESTART,
                f"{reason}: learning-rate restart {s.lr_restarts}/{recovery.max_restarts}, "
                f"warm-up over {h.restart_warmup} epochs from {before:.3g} to "
                f"{strategy.peak_lr_factor:g}× the peak = {peak:.3g}{levers.capped(peak)}",
                {"warmup_epochs": h.restart_warmup, "peak_lr": peak, "lr": before},
            )
        )
