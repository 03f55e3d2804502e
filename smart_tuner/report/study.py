"""An Optuna study as the plain summary the report shows (study.json in a run folder).

    write_study_summary(study, run_dir)   # after a search; `auto` does it for its study

study.json: {"name", "direction", "best_value", "best_params", "importances": {param: share},
"trials": [{"number", "state", "value", "params", "pruned_reason", "duration_seconds"}], "note"}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STUDY_FILE = "study.json"
# Where a search may leave why it pruned a trial (a user attribute of the trial).
REASON_ATTRS = ("pruned_reason", "prune_reason", "stop_reason", "reason")


def _reason(trial: Any) -> str:
    attrs = dict(getattr(trial, "user_attrs", {}) or {})
    return next((str(attrs[k]) for k in REASON_ATTRS if attrs.get(k)), "")


def study_summary(study: Any, note: str = "") -> dict[str, Any]:
    """Trials, the best one and the parameter importances (when Optuna can compute them)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    importances: dict[str, float] = {}
    if len(complete) >= 2:
        try:
            importances = {
                k: round(float(v), 4)
                for k, v in optuna.importance.get_param_importances(study).items()
            }
        except (RuntimeError, ValueError):  # a single distinct value, or nothing varied
            importances = {}
    best = min if study.direction == optuna.study.StudyDirection.MINIMIZE else max
    best_trial = best(complete, key=lambda t: t.value) if complete else None
    return {
        "name": study.study_name,
        "direction": study.direction.name.lower(),
        "best_value": best_trial.value if best_trial else None,
        "best_params": dict(best_trial.params) if best_trial else {},
        "importances": importances,
        "trials": [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "params": dict(t.params),
                "pruned_reason": _reason(t),
                "duration_seconds": t.duration.total_seconds() if t.duration else None,
            }
            for t in trials
        ],
        "note": note,
    }


def write_study_summary(study: Any, folder: str | Path, note: str = "") -> Path:
    path = Path(folder) / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(study_summary(study, note), indent=2, ensure_ascii=False, default=str)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
