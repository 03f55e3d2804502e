"""Attention collapse: a formed attention fell apart; re-initialise it, else restart."""

from __future__ import annotations

from dataclasses import dataclass

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View

COLLAPSE_CONFIRM_EPOCHS = 2  # one bad validation batch is not a collapse


@dataclass
class CollapseState:
    last_reset: int | None = None  # epoch of the last attention reset (its cool-down)


class Collapse(Rule):
    name = "collapse"
    State = CollapseState

    def new_attempt(self, epoch: int) -> None:
        """The cool-down of a reset outlives a restart (as it always did)."""

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        s, recovery = view.state, view.config.training_recovery
        if not recovery.enabled or s.collapse_epochs < COLLAPSE_CONFIRM_EPOCHS:
            return False
        if now.metrics.attention is None or not view.cooled(self.state.last_reset, epoch):
            return False
        problem = recovery.problem_detection.attention_collapse
        limit = 0.3 if problem.threshold is None else problem.threshold
        reason = (
            f"attention collapsed: attention score {now.metrics.attention:.2f} < {limit:g} for "
            f"{s.collapse_epochs} epochs after it had formed"
        )
        if problem.action == "attention_reset":
            if s.attention_resets < view.config.control.max_attention_resets:
                self._reset_attention(epoch, reason, now, view, levers)
                return True
            reason += f" ({s.attention_resets} attention resets did not hold)"
        if problem.action != "none" and view.can_restart(epoch):
            levers.restart(epoch, reason, now)
            return True
        return False

    def _reset_attention(
        self, epoch: int, reason: str, now: EpochContext, view: View, levers: Levers
    ) -> None:
        s, h, control = view.state, view.horizon, view.config.control
        strategy = view.config.training_recovery.recovery_strategies.attention_reset
        warm = max(1, h.restart_warmup) if strategy.reset_optimizer_state else None
        levers.attention_reset(epoch, warm)
        self.state.last_reset = epoch
        now.actions.append(levers.checkpoint(epoch, "before_attention_reset"))
        if strategy.reset_attention_weights:
            now.actions.append(
                Decision(
                    Action.RESET_ATTENTION,
                    f"{reason}: re-initialise the attention module's weights "
                    f"(reset {s.attention_resets}/{control.max_attention_resets})",
                )
            )
        if warm is not None:
            now.actions.append(
                Decision(
                    Action.RESET_OPTIMIZER,
                    f"{reason}: fresh optimizer state, learning rate re-warmed over {warm} epochs",
                    {"rewarm_epochs": warm},
                )
            )
        levers.forget_curve(epoch, quiet=max(h.cooldown, h.restart_warmup))
        levers.realign(epoch)
        levers.enter_phase(epoch, "alignment", "the attention was re-initialised", now)
