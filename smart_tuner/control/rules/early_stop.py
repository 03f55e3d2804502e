"""Early stopping: no significant improvement for the phase's patience; stop (converged, or
no_improvement when the attention never formed). Not while the attention may still click."""

from __future__ import annotations

from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.rules.plateau import flat_text, stalled_but_improving
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View
from smart_tuner.events import StopReason


class EarlyStop(Rule):
    name = "early_stop"

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, h = view.state, view.horizon
        if epoch < s.quiet_until or s.ref_val is None:
            return False
        since = epoch - view.patience_start()
        if stalled_but_improving(epoch, since, view):
            return False
        patience = h.patience[s.phase]
        if not view.config.early_stopping.enabled or since < patience:
            return False
        waiting = view.waiting_for_alignment()
        if waiting and epoch < view.alignment_deadline():
            return False  # a Tacotron2 loss often stalls until attention "clicks"
        aligned = not waiting and (s.att_ema is None or s.aligned_once)
        if aligned and levers.hold_stop(self.name, now):
            return False
        reason = StopReason.CONVERGED if aligned else StopReason.NO_IMPROVEMENT
        extra = "" if aligned else " and attention never formed"
        now.stop = levers.stop(
            reason,
            f"early stop: {flat_text(view, since)} (patience {patience} in the "
            f"{s.phase.replace('_', '-')} phase){extra}; best checkpoint: epoch {s.best_epoch} "
            f"(val_loss {s.best_val:.4g})",
        )
        return True
