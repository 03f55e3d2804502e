"""S13 batch size: shrink on out-of-memory or gradient spikes, grow when the loss is stable.

Growing needs long quiet times so the two never alternate. The LR follows the batch size
(square root of the ratio, in the controller's schedule); the loop's sampler reads
`controller.batch_size`.
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View


@dataclass
class BatchSizeState:
    last_change: int | None = None
    last_shrink: int | None = None
    ceiling: int | None = None  # largest batch size known to fit in memory


class BatchSize(Rule):
    name = "batch_size"
    State = BatchSizeState

    def new_attempt(self, epoch: int) -> None:
        """What fits in memory and the cool-downs outlive a restart."""

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, h, plan, mine = view.state, view.horizon, view.plan, self.state
        cfg = view.config.adaptive_learning
        adapt = cfg.batch_size_adaptation
        if not (cfg.enabled and adapt.enabled) or plan.min_batch_size == plan.max_batch_size:
            return False
        m, g, base = now.metrics, now.metrics.grad_norm, now.grad_base
        if m.oom_steps > 0 and s.batch_size > plan.min_batch_size:
            mine.last_shrink = epoch
            mine.ceiling = s.batch_size - 1
            reason = f"out of memory in {m.oom_steps:.0f} steps"
            return self._set(
                epoch, max(plan.min_batch_size, s.batch_size // 2), reason, now, view, levers
            )
        if epoch - s.attempt_start <= h.warmup or epoch < s.quiet_until:
            return False
        since_change = None if mine.last_change is None else epoch - mine.last_change
        if (
            g is not None
            and base is not None
            and adapt.decrease_threshold * base < g <= view.explosion_threshold
            and s.batch_size > plan.min_batch_size
            and view.cooled(mine.last_change, epoch)
            # Before the attention forms, gradient spikes are the attention moving, not noise.
            and (s.aligned_once or s.att_ema is None)
            and now.loss_rose
        ):
            mine.last_shrink = epoch
            reason = (
                f"large gradients: grad_norm {g:.3g} is {g / base:.1f}× its recent median "
                f"{base:.3g} (>= {adapt.decrease_threshold:g})"
            )
            return self._set(
                epoch, max(plan.min_batch_size, s.batch_size // 2), reason, now, view, levers
            )
        largest = min(plan.max_batch_size, mine.ceiling or plan.max_batch_size)
        if s.phase == "alignment" or s.batch_size * 2 > largest:
            return False
        if g is not None and g > view.explosion_threshold:
            return False
        if since_change is not None and since_change < 2 * h.cooldown:
            return False
        if not view.cooled(mine.last_shrink, epoch, 4 * h.cooldown):
            return False
        if (base is not None and g is not None and g > 1.5 * base) or s.skipped_step_epochs:
            return False
        if len(s.train_window) <= h.stability_window:
            return False
        ratio = s.train_window[-1] / s.train_window[0]
        if not adapt.increase_threshold <= ratio <= 1.0 + (1.0 - adapt.increase_threshold) / 5:
            return False
        reason = (
            f"stable training loss: {ratio:.3f} of its value {h.stability_window} epochs ago "
            f"(>= {adapt.increase_threshold:g})"
        )
        return self._set(epoch, s.batch_size * 2, reason, now, view, levers)

    def _set(
        self, epoch: int, size: int, reason: str, now: EpochContext, view: View, levers: Levers
    ) -> bool:
        s = view.state
        if size == s.batch_size:
            return False
        old, before = s.batch_size, view.learning_rate(epoch)
        levers.set_batch_size(size)
        self.state.last_change = epoch
        lr = view.learning_rate(epoch)
        capped = levers.capped(lr)
        now.actions.append(
            Decision(
                Action.SET_BATCH_SIZE,
                f"{reason}: batch size {old} → {size}, learning rate × √({size}/{old}): "
                f"{before:.3g} → {lr:.3g}{capped}",
                {"batch_size": size, "previous": old, "lr": lr},
            )
        )
        return True
