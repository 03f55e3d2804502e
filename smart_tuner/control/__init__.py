"""The brain of training: turns per-epoch metric records into decisions. No torch here.

controller.py  TrainingController: observe(record) -> decisions; learning_rate(epoch); the
               priority order over the rules, the plan and the LR schedule
rules/         one policy object per problem (NaN, collapse, explosion, over-fitting, plateau,
               early stop, skipped steps, batch size, sharpening), each with its own state
signals.py     the smoothed metrics and counters, computed once per epoch
view.py        read-only questions about the run, shared by the rules and the reporter
levers.py      what rules may change: stop, checkpoint, LR cuts, restarts, phases
budget.py      the plan's end and the time budget (re-planning, the budget stop)
plan.py        TrainingPlan, and Horizon: the user's epoch numbers scaled to the plan
schedule.py    the learning-rate shape (warm-up, cosine, LR restarts), guided-attention decay
analysis.py    ProgressReporter: progress analysis (S15) and the curve forecast (S25)
curve.py       the learning-curve fit itself
progress.py    ProgressReport and its printed form
state.py       the shared state (JSON types only) and what is read from a record
summary.py     what the controller adds to summary.json
decision.py    Action and Decision
replay.py      run the controller over a recorded metrics.jsonl
"""

from smart_tuner.control.controller import TrainingController
from smart_tuner.control.curve import CurveFit, fit_learning_curve
from smart_tuner.control.decision import STOP_REASONS, Action, Decision
from smart_tuner.control.plan import Horizon, TrainingPlan
from smart_tuner.control.progress import ProgressReport, format_progress
from smart_tuner.control.replay import format_replay, replay, replay_run

__all__ = [
    "STOP_REASONS",
    "Action",
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
