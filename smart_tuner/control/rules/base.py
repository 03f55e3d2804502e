"""What every rule is: signals in, decisions out, and its own small memory.

A rule reads the epoch (`EpochContext`: this epoch's metrics and the shared signals through a
read-only `View`), and when it acts it pulls `Levers` (which append the decisions) and returns
True, so lower-priority rules wait for the next epoch. What a rule alone remembers lives in its
`state`, a dataclass of JSON types that round-trips through the controller's `state_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from smart_tuner.config import Config
from smart_tuner.control.levers import Levers
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View


@dataclass
class NoState:
    """For rules that need nothing beyond the shared signals."""


class Rule:
    """Base class: override `decide`, and `new_attempt` / `realign` if the rule remembers."""

    name: ClassVar[str] = "rule"
    State: ClassVar[type] = NoState

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state: Any = self.State()

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        """Act on this epoch (append decisions via `levers`); True when it did."""
        raise NotImplementedError

    def new_attempt(self, epoch: int) -> None:
        """Fresh weights (a restart): forget what was learned about the old model."""
        self.state = self.State()

    def realign(self, epoch: int) -> None:
        """The attention module was re-initialised and must form again."""

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)

    def load_state_dict(self, data: dict[str, Any]) -> None:
        names = {f.name for f in fields(self.State)}
        self.state = self.State(**{k: v for k, v in data.items() if k in names})
