"""What the controller can tell the training loop to do, always with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CONTINUE = "continue"
    STOP = "stop"
    SET_LR = "set_lr"
    RESET_ATTENTION = "reset_attention"
    RESET_OPTIMIZER = "reset_optimizer"
    SET_BATCH_SIZE = "set_batch_size"
    RESTART = "restart"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def stop_reason(self) -> str | None:
        return self.params.get("stop_reason") if self.action is Action.STOP else None
