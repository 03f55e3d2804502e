"""The brain of training: turns per-epoch metric records into decisions. No torch here."""

from smart_tuner.control.budget import BudgetController
from smart_tuner.control.decision import Action, Decision

__all__ = ["Action", "BudgetController", "Decision"]
