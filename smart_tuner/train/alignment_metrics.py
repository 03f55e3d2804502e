"""Moved to smart_tuner.runtime.alignment_metrics (the floor); this name still works."""

from smart_tuner.runtime.alignment_metrics import *  # noqa: F403
