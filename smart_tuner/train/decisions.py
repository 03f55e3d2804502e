"""The controller's decisions, carried out: the part of the training loop that obeys.

`DecisionHandlers` is mixed into `Trainer` (train/loop.py). Each action has one handler; an
action the loop does not know raises. In a distributed run rank 0's controller state and
decisions are broadcast first, so every rank applies the same decision in the same step, and
a decision that changes the weights leaves them equal on every rank.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import torch

from smart_tuner.control import Action, Decision
from smart_tuner.events import DecisionMade, StopReason
from smart_tuner.runtime import distributed
from smart_tuner.runtime.checkpoint import load_checkpoint
from smart_tuner.train.data_prep import TrainingError


class DecisionHandlers:
    """Mixed into `Trainer`, whose model, optimizer, controller and event bus it uses."""

    # Set by Trainer.__init__:
    model: Any
    net: Any
    optimizer: Any
    scaler: Any
    controller: Any
    ranks: Any
    bus: Any
    epoch: int
    stop_reason: str

    def _share_decisions(
        self, decisions: list[Decision], stop_request: tuple[str, str] | None
    ) -> tuple[list[Decision], tuple[str, str] | None]:
        """Rank 0's controller state, decisions and listener stop, on every rank: all of them
        then apply the same decisions in the same step."""
        if not self.ranks.enabled:
            return decisions, stop_request
        mine = (self.controller.state_dict(), decisions, stop_request)
        state, decisions, stop_request = distributed.broadcast(mine, self.ranks)
        if not self.ranks.is_main:
            self.controller.load_state_dict(state)
        return decisions, stop_request

    def _apply(self, decisions: list[Decision]) -> bool:
        """Carry out the controller's decisions, in order; True when the run should stop.
        Informational ones are only recorded; one this loop does not know raises."""
        handlers: dict[Action, Callable[[Decision], None]] = {
            Action.STOP: self._stop,
            Action.CHECKPOINT: self._keep_checkpoint,
            Action.RESET_ATTENTION: self._reset_attention,
            Action.RESET_OPTIMIZER: lambda d: self._fresh_optimizer(),
            Action.ROLLBACK: self._rollback,
            Action.RESTART: self._restart,
            # The learning rate and the batch size are read from the controller before every
            # step and every epoch: nothing to do here.
            Action.SET_LR: lambda d: None,
            Action.LR_RESTART: lambda d: None,
            Action.SET_BATCH_SIZE: lambda d: None,
        }
        for decision in decisions:
            if decision.action is Action.CONTINUE:
                continue
            self.bus.emit(
                DecisionMade(self.epoch, str(decision.action), decision.reason, decision.params)
            )
            if decision.informational:
                continue
            handler = handlers.get(decision.action)
            if handler is None:
                raise TrainingError(
                    f"the controller decided {decision.action!r}, which the training loop "
                    "cannot carry out"
                )
            handler(decision)
        return self.controller.stopped

    def _stop(self, decision: Decision) -> None:
        self.stop_reason = decision.stop_reason or StopReason.NOT_STARTED

    def _keep_checkpoint(self, decision: Decision) -> None:
        if not self.ranks.is_main:
            return
        shutil.copy2(self.last_path, self.ckpt_dir / f"{decision.params.get('tag', 'saved')}.pt")

    def _fresh_optimizer(self) -> None:
        self.optimizer = self._new_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)

    def _reset_attention(self, decision: Decision) -> None:
        self.model.reset_attention()  # fresh random weights: rank 0's go to every rank
        distributed.sync_module(self.model, self.ranks)

    def _rollback(self, decision: Decision) -> None:
        """Every rank loads the same checkpoint: rank 0 reads it and hands it over."""
        good = None
        if self.ranks.is_main:
            kept = decision.params.get("checkpoint")
            path = self.ckpt_dir / f"{kept}.pt" if kept else self.good_path
            good = load_checkpoint(path if path.exists() else self.good_path)
            if self.ranks.enabled:
                good = distributed.on_cpu({k: good[k] for k in ("model", "optimizer", "scaler")})
        good = distributed.broadcast(good, self.ranks)
        self.model.load_state_dict(good["model"])
        self.optimizer.load_state_dict(good["optimizer"])
        self.scaler.load_state_dict(good["scaler"])

    def _restart(self, decision: Decision) -> None:
        """Fresh weights; the guided-attention weight and its decay follow the controller."""
        self.model = self._new_model()
        self.net = self._wrapped(self.model)  # DDP starts every rank from rank 0's weights
        self._fresh_optimizer()
