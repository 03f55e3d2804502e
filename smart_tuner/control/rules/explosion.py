"""Gradient explosion: gradients far above their level that hurt the loss; cut the LR."""

from __future__ import annotations

from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View


class Explosion(Rule):
    name = "explosion"

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, h, config = view.state, view.horizon, view.config
        g = now.metrics.grad_norm
        threshold = view.explosion_threshold
        if not config.training_recovery.enabled or g is None or g <= threshold:
            return False
        ratio = config.adaptive_learning.batch_size_adaptation.decrease_threshold
        spike = now.grad_base is not None and g > ratio * now.grad_base
        # While the attention forms, one-epoch spikes are the attention moving (and clipping
        # bounds each step): only sustained high gradients count then.
        spike = spike and (s.aligned_once or s.att_ema is None)
        sustained = epoch - s.attempt_start > h.warmup and s.high_grad_epochs >= h.sustain
        if not (spike or sustained) or not view.cooled(s.last_lr_change, epoch):
            return False
        # High gradients the training loss shrugged off were bounded by clipping: a demo run
        # lost 4x of its LR to one-epoch spikes, and a 5-7 s corpus halved it for norms of 18
        # while aligning, each time while the loss kept falling.
        if not now.loss_rose:
            return False
        problem = config.training_recovery.problem_detection.gradient_explosion
        if problem.action == "none":
            return False
        detail = (
            f"{g / now.grad_base:.1f}× its recent median {now.grad_base:.3g}"
            if spike and now.grad_base
            else f"for {s.high_grad_epochs} epochs in a row"
        )
        reason = f"gradient explosion: grad_norm {g:.3g} > {threshold:g}, {detail}"
        return levers.reduce_lr(epoch, reason, "gradient_explosion", now)
