"""The base of every config section: unknown keys are errors, assignments are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and why."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
