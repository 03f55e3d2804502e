"""Moved to smart_tuner.runtime.checkpoint (the floor); this name still works."""

from smart_tuner.runtime.checkpoint import *  # noqa: F403
