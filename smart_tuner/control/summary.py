"""What the controller adds to a run's summary.json: decisions, phases, the S25 forecast next
to the outcome, and its counters."""

from __future__ import annotations

import copy
from typing import Any

from smart_tuner.control.plan import TrainingPlan
from smart_tuner.control.state import ControllerState
from smart_tuner.events import QUALITY_STOPS


def summary_fields(s: ControllerState, plan: TrainingPlan) -> dict[str, Any]:
    first = s.first_prediction or {}
    saved = 0
    if s.stop_reason in QUALITY_STOPS and s.stop_epoch is not None:
        saved = max(0, plan.max_epochs - s.stop_epoch)
    phases = copy.deepcopy(s.phase_history)
    if phases and phases[-1]["end_epoch"] is None:
        phases[-1]["end_epoch"] = s.stop_epoch if s.stop_epoch is not None else s.last_epoch
    outcome: dict[str, Any] = {
        "stop_reason": s.stop_reason,
        "stop_epoch": s.stop_epoch,
        "best_epoch": s.best_epoch,
        "best_val_loss": s.best_val,
    }
    if first and s.stop_epoch is not None:
        outcome["stop_epoch_error"] = s.stop_epoch - first["predicted_stop_epoch"]
        if s.best_val:
            error = first["predicted_final_val_loss"] / s.best_val - 1.0
            outcome["final_val_loss_relative_error"] = round(error, 4)
    return {
        "decisions": copy.deepcopy(s.decisions),
        "epochs_saved": saved,
        "predicted_stop_epoch": first.get("predicted_stop_epoch"),
        "predicted_final_val_loss": first.get("predicted_final_val_loss"),
        "phase_history": phases,
        "controller": {
            "plan": plan.to_dict(),
            "effective_epochs": s.effective_end,
            "prediction": s.first_prediction,
            "latest_prediction": s.latest_prediction,
            "outcome": outcome,
            "restarts": s.restarts,
            "lr_restarts": s.lr_restarts,
            "attention_resets": s.attention_resets,
            "rollbacks": s.rollbacks,
            "lr_reductions": s.lr_reductions,
            "batch_changes": s.batch_changes,
            "batch_size": s.batch_size,
            "progress_reports": len(s.reports),
        },
    }
