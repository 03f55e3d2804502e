"""What the controller can tell the training loop to do, always with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from smart_tuner.events import CONTROLLER_STOPS, StopReason


class Action(StrEnum):
    """One thing the loop must do (or, for the informational ones, only log).

    Informational: CONTINUE, REPORT, PHASE, REPLAN, SHARPEN_ATTENTION, RELEASE_ATTENTION,
    HOLD_STOP.
    Everything else changes the run.
    """

    CONTINUE = "continue"
    STOP = "stop"  # params: stop_reason (STOP_REASONS), best_epoch, best_val_loss
    SET_LR = "set_lr"  # params: lr (now), factor, cause
    LR_RESTART = "lr_restart"  # params: warmup_epochs, peak_lr
    RESET_ATTENTION = "reset_attention"  # re-initialise the attention module's weights
    RESET_OPTIMIZER = "reset_optimizer"  # fresh optimizer state (Adam moments)
    ROLLBACK = "rollback"  # params: to_epoch, lr: load the last good checkpoint
    CHECKPOINT = "checkpoint"  # params: tag: keep a named copy before a destructive action
    SET_BATCH_SIZE = "set_batch_size"  # params: batch_size, previous, lr
    RESTART = "restart"  # params: attempt, learning_rate, guided_attention_weight, ...
    REPORT = "report"  # params: report (ProgressReport as dict), text (printable)
    PHASE = "phase"  # params: phase, previous
    REPLAN = "replan"  # params: effective_epochs, previous (budget re-planning)
    SHARPEN_ATTENTION = "sharpen_attention"  # params: weight, diagonality, attention_score
    RELEASE_ATTENTION = "release_attention"  # params: attention_score, since: entropy term off
    HOLD_STOP = "hold_stop"  # params: rule, mel_quality, quality_epoch, previous_best


STOP_REASONS = CONTROLLER_STOPS  # the StopReasons a STOP decision may carry
# The loop only logs these: it reads the LR and the entropy weight from the controller.
INFORMATIONAL = frozenset(
    {
        Action.CONTINUE,
        Action.REPORT,
        Action.PHASE,
        Action.REPLAN,
        Action.SHARPEN_ATTENTION,
        Action.RELEASE_ATTENTION,
        Action.HOLD_STOP,
    }
)


@dataclass(frozen=True)
class Decision:
    """One action, the human-readable reason with the numbers behind it, and its parameters."""

    action: Action
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def stop_reason(self) -> StopReason | None:
        if self.action is not Action.STOP or self.params.get("stop_reason") is None:
            return None
        return StopReason(self.params["stop_reason"])

    @property
    def informational(self) -> bool:
        """True when the loop only needs to log it."""
        return self.action in INFORMATIONAL

    def to_dict(self) -> dict[str, Any]:
        return {"action": str(self.action), "reason": self.reason, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(Action(data["action"]), str(data["reason"]), dict(data.get("params") or {}))
