"""Smart Tuner: an autopilot for training text-to-speech models."""

__version__ = "0.1.0"
