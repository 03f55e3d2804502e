"""Stops a run when its epoch plan or wall-clock budget is spent.

The smallest useful controller: it knows the plan (epochs) and the budget (minutes) and
nothing about model quality. It predicts whether one more epoch fits so a run ends inside its
budget rather than one epoch past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart_tuner.control.decision import Action, Decision


class BudgetController:
    def __init__(self, max_epochs: int, max_minutes: float | None = None) -> None:
        self.max_epochs = max_epochs
        self.max_seconds = None if max_minutes is None else max_minutes * 60.0

    def decide(self, record: Mapping[str, Any], elapsed_seconds: float) -> list[Decision]:
        epoch = int(record["epoch"])
        if epoch >= self.max_epochs:
            return [
                Decision(
                    Action.STOP,
                    f"planned {self.max_epochs} epochs completed",
                    {"stop_reason": "epochs_completed"},
                )
            ]
        if self.max_seconds is not None:
            epoch_seconds = float(record.get("epoch_seconds", 0.0))
            if elapsed_seconds + epoch_seconds > self.max_seconds:
                minutes = self.max_seconds / 60.0
                return [
                    Decision(
                        Action.STOP,
                        f"time budget of {minutes:g} min would be exceeded by another epoch "
                        f"({elapsed_seconds / 60:.1f} min used, {epoch_seconds:.0f} s/epoch)",
                        {"stop_reason": "time_budget"},
                    )
                ]
        return [Decision(Action.CONTINUE, "within plan and budget")]
