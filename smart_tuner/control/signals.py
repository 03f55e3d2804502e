"""Signals: the smoothed metrics and counters every rule reads, computed once per epoch.

Two steps, because the sharpening rule reacts to the attention as soon as it is measured and
its rollback quiets the same epoch's plateau and over-fitting counters:
`update_losses_and_attention`, then the sharpening rule, then `update_trends`.
"""

from __future__ import annotations

import statistics

from smart_tuner.control.state import EpochContext, ema, finite
from smart_tuner.control.view import View


def update_losses_and_attention(view: View, epoch: int, now: EpochContext) -> None:
    """Smoothed losses, the run-wide best, the attention signals and the collapse count."""
    s, h, m, config = view.state, view.horizon, now.metrics, view.config
    alpha = h.ema_alpha
    val = finite(m.val_loss)
    if val is not None:
        s.val_ema = ema(s.val_ema, val, alpha)
        s.last_val = val
        s.history.append([epoch, val])
        if s.best_val is None or val < s.best_val:
            s.best_val, s.best_epoch = val, epoch
    train = finite(m.train_loss)
    if train is not None:
        now.loss_rose = s.train_ema is None or train > s.train_ema
        s.train_ema = ema(s.train_ema, train, alpha)
        s.train_window.append(s.train_ema)
        del s.train_window[: -(h.stability_window + 1)]
    degradation = config.overfitting_detection.attention_degradation
    if m.diagonality is not None:
        s.diag_ema = ema(s.diag_ema, m.diagonality, alpha)
        s.diag_formed = s.diag_formed or s.diag_ema >= degradation.min_diagonality
    if m.attention is not None:
        s.att_ema = ema(s.att_ema, m.attention, alpha)
        # Formed = sharp *and* on the diagonal: a sharp attention stuck on one symbol or
        # racing ahead (common in the first epochs of location-relative attention) is not.
        diagonal = s.diag_ema is None or s.diag_ema >= degradation.min_diagonality
        if s.att_ema >= h.attention_threshold["alignment"] and diagonal:
            if s.aligned_at is None:
                s.aligned_at = float(epoch)
            s.aligned_once = True
        collapse = config.training_recovery.problem_detection.attention_collapse
        limit = 0.3 if collapse.threshold is None else collapse.threshold
        s.collapse_epochs = s.collapse_epochs + 1 if s.aligned_once and m.attention < limit else 0


def update_trends(view: View, epoch: int, now: EpochContext) -> None:
    """Gate accuracy, the improvement reference, over-fitting, gradients and skipped steps."""
    s, h, m, config = view.state, view.horizon, now.metrics, view.config
    alpha = h.ema_alpha
    if m.gate_accuracy is not None:
        s.gate_ema = ema(s.gate_ema, m.gate_accuracy, alpha)
        s.gate_best = max(s.gate_best or 0.0, s.gate_ema)
    if s.val_ema is not None:
        delta = h.min_improvement[s.phase]
        if s.ref_val is None or s.val_ema < s.ref_val * (1.0 - delta):
            s.ref_val, s.ref_epoch = s.val_ema, epoch
            s.plateau_armed = s.plateau_armed or epoch >= s.quiet_until
        if s.min_val_ema is None or s.val_ema < s.min_val_ema:
            s.min_val_ema, s.min_val_epoch, s.train_at_min = s.val_ema, epoch, s.train_ema
        s.overfit_epochs = s.overfit_epochs + 1 if view.overfitting_now(epoch) else 0
    g = m.grad_norm
    if g is not None:
        if len(s.grad_window) >= 3:
            now.grad_base = statistics.median(s.grad_window)
        s.grad_window.append(g)
        del s.grad_window[: -max(5, h.cooldown)]
        s.high_grad_epochs = s.high_grad_epochs + 1 if g > view.explosion_threshold else 0
    share = m.nonfinite_share
    tolerance = config.control.nonfinite_step_tolerance
    if share is not None and share > tolerance and epoch - s.attempt_start > 1:
        s.skipped_step_epochs += 1
    else:
        s.skipped_step_epochs = 0
