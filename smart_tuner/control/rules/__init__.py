"""The controller's rules as policy objects, one per problem, highest priority first.

    nan (on broken epochs) | sharpening (right after the attention signals) |
    collapse > explosion > overfitting > plateau > early_stop > skipped_steps > batch_size

At most one of the chain acts per epoch. `control.disabled_rules` switches rules off by name;
`TrainingController(..., rules=...)` replaces one (same name) or adds one.
"""

from smart_tuner.control.rules.base import NoState, Rule
from smart_tuner.control.rules.batch_size import BatchSize
from smart_tuner.control.rules.collapse import Collapse
from smart_tuner.control.rules.early_stop import EarlyStop
from smart_tuner.control.rules.explosion import Explosion
from smart_tuner.control.rules.nan import NonFinite
from smart_tuner.control.rules.overfitting import Overfitting
from smart_tuner.control.rules.plateau import Plateau
from smart_tuner.control.rules.sharpening import Sharpening
from smart_tuner.control.rules.skipped_steps import SkippedSteps

DEFAULT_RULES: tuple[type[Rule], ...] = (
    NonFinite,
    Sharpening,
    Collapse,
    Explosion,
    Overfitting,
    Plateau,
    EarlyStop,
    SkippedSteps,
    BatchSize,
)
OUT_OF_CHAIN = frozenset({"nan", "sharpening"})  # called at their own points of the epoch

__all__ = [
    "DEFAULT_RULES",
    "OUT_OF_CHAIN",
    "BatchSize",
    "Collapse",
    "EarlyStop",
    "Explosion",
    "NoState",
    "NonFinite",
    "Overfitting",
    "Plateau",
    "Rule",
    "Sharpening",
    "SkippedSteps",
]
