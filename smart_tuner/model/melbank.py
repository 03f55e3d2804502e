"""Moved to smart_tuner.runtime.melbank (the floor below data/ and model/); this name still
works."""

from smart_tuner.runtime.melbank import *  # noqa: F403
