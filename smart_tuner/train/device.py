"""Moved to smart_tuner.runtime.device (the floor); this name still works."""

from smart_tuner.runtime.device import *  # noqa: F403
