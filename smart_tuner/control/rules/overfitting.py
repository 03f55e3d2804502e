"""Over-fitting: validation loss rising as a trend while the training loss falls; stop."""

from __future__ import annotations

from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext, trend
from smart_tuner.control.view import TREND_T, View
from smart_tuner.events import StopReason


class Overfitting(Rule):
    name = "overfitting"

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, h = view.state, view.horizon
        if s.overfit_epochs < h.sustain or epoch - s.attempt_start <= h.warmup:
            return False
        if view.waiting_for_alignment() and s.overfit_epochs < h.patience["alignment"]:
            # val_loss may rise while attention forms; but a rise with train_loss falling for
            # a whole alignment patience is over-fitting all the same (a small corpus learned
            # by heart behind a diffuse attention): waiting for the alignment deadline, and
            # restarting then, would only learn it by heart again.
            return False
        # The rise since the minimum must be a trend, not a lucky low followed by noise.
        epochs, values = view.curve_points(last=max(epoch - s.min_val_epoch + 1, 5))
        rise = trend(epochs, values)
        if rise is None or rise[1] < TREND_T:
            return False
        aligned = s.att_ema is None or s.aligned_once
        if aligned and levers.hold_stop(self.name, now):
            return False  # the speech still improves (behind a formed attention)
        gap, _ = view.val_gap()
        threshold = view.config.overfitting_detection.val_loss_increase_threshold
        now.stop = levers.stop(
            StopReason.OVERFITTING,
            f"over-fitting: smoothed val_loss {s.val_ema:.4g} is {gap:.1%} (>= {threshold:.0%}) "
            f"above its minimum {s.min_val_ema:.4g} (epoch {s.min_val_epoch}) for "
            f"{s.overfit_epochs} epochs while train_loss fell {s.train_at_min:.4g} → "
            f"{s.train_ema:.4g}; best checkpoint: epoch {s.best_epoch} (val_loss {s.best_val:.4g})",
        )
        return True
