"""The brain of training: turns per-epoch metric records into decisions. No torch here.

controller.py  TrainingController: observe(record) -> decisions; learning_rate(epoch)
plan.py        TrainingPlan, and Horizon: the user's epoch numbers scaled to the plan
schedule.py    the learning-rate shape (warm-up, cosine, LR restarts)
analysis.py    progress analysis (S15) and the learning-curve forecast (S25)
curve.py       the learning-curve fit itself
progress.py    ProgressReport and its printed form
state.py       what the controller remembers (JSON types only) and reads from a record
decision.py    Action and Decision
replay.py      run the controller over a recorded metrics.jsonl
budget.py      BudgetController: plan and time budget only (superseded by TrainingController)
"""

from smart_tuner.control.budget import BudgetController
from smart_tuner.control.controller import TrainingController
from smart_tuner.control.curve import CurveFit, fit_learning_curve
from smart_tuner.control.decision import STOP_REASONS, Action, Decision
from smart_tuner.control.plan import Horizon, TrainingPlan
from smart_tuner.control.progress import ProgressReport, format_progress
from smart_tuner.control.replay import format_replay, replay, replay_run

__all__ = [
    "STOP_REASONS",
    "Action",
    "BudgetController",
    "CurveFit",
    "Decision",
    "Horizon",
    "ProgressReport",
    "TrainingController",
    "TrainingPlan",
    "fit_learning_curve",
    "format_progress",
    "format_replay",
    "replay",
    "replay_run",
]
