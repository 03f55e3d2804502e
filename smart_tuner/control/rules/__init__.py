"""The controller's rules as policy objects, one per problem, highest priority first.

    nan (on broken epochs) | sharpening (right after the attention signals) |
    collapse > explosion > overfitting > plateau > early_stop > skipped_steps > batch_size

At most one of the chain acts per epoch. `control.disabled_rules` switches rules off by name;
`TrainingController(..., rules=...)` replaces one (same name) or adds one.
"""

from collections.abc import Iterable

from smart_tuner.config import Config
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


def build_rules(config: Config, extra: Iterable[Rule] = ()) -> dict[str, Rule]:
    """The default rules in priority order, minus `control.disabled_rules`; a rule in `extra`
    replaces the default of its name or joins the chain before batch_size."""
    off = set(config.control.disabled_rules)
    rules: dict[str, Rule] = {cls.name: cls(config) for cls in DEFAULT_RULES}
    for rule in extra:
        if rule.name in rules:
            rules[rule.name] = rule
        else:
            tail = rules.pop("batch_size")
            rules[rule.name] = rule
            rules["batch_size"] = tail
    unknown = off - set(rules)
    if unknown:
        raise ValueError(f"control.disabled_rules: unknown rule(s) {sorted(unknown)}")
    return {name: rule for name, rule in rules.items() if name not in off}


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
    "build_rules",
]
