"""The loop carries out only what it knows: an action it has no handler for raises."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pytest

from smart_tuner.control import Action, Decision
from smart_tuner.events import DecisionMade, EventBus
from smart_tuner.train.loop import Trainer, TrainingError


class Future(StrEnum):
    TELEPORT = "teleport"


@dataclass(frozen=True)
class FutureDecision:
    action: Future
    reason: str = "a controller newer than this loop"
    params: dict | None = None
    informational: bool = False


def bare_trainer(seen: list) -> Trainer:
    trainer = object.__new__(Trainer)  # the executor's dispatch needs no model or data
    trainer.bus = EventBus()
    trainer.bus.subscribe(seen.append)
    trainer.epoch = 3
    return trainer


def test_an_action_the_loop_does_not_know_raises_after_it_was_recorded():
    seen: list = []
    trainer = bare_trainer(seen)
    with pytest.raises(TrainingError, match="teleport"):
        trainer._apply([FutureDecision(Future.TELEPORT, params={})])
    assert [e.action for e in seen if isinstance(e, DecisionMade)] == ["teleport"]


def test_informational_decisions_are_recorded_and_need_no_handler():
    seen: list = []
    trainer = bare_trainer(seen)

    class Controller:
        stopped = False

    trainer.controller = Controller()
    decisions = [
        Decision(Action.PHASE, "entering the learning phase", {"phase": "learning"}),
        Decision(Action.CONTINUE, "nothing to do"),
    ]
    assert trainer._apply(decisions) is False
    assert [e.action for e in seen if isinstance(e, DecisionMade)] == ["phase"]
