"""Moved to smart_tuner.history_learning (pure policy, below track/); this name still works."""

from smart_tuner.history_learning import *  # noqa: F403
from smart_tuner.history_learning import MIN_SIMILARITY  # noqa: F401
