"""Synthetic Tacotron2-like metric curves, and a tiny loop that obeys the controller.

Curves are open-loop by default (the metrics ignore the decisions), which is the harshest test of
"no oscillation": the problem never goes away by itself. `Sim` can close the loop for scenarios
where the fix should work (a rollback removes the NaN, a reset lets attention re-form).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smart_tuner.config import Config
from smart_tuner.control import Action, Decision, TrainingController, TrainingPlan

Record = dict[str, Any]


@dataclass
class Curve:
    """val = floor + height * exp(-t / tau) (+ an over-fitting rise after `overfit_at`)."""

    plan: int = 200
    floor: float = 0.4
    height: float = 1.0
    tau: float | None = None  # default plan / 10
    noise: float = 0.0  # multiplicative, on val and train
    align_at: float | None = None  # epoch attention forms (default plan / 20)
    attention_peak: float = 0.92
    overfit_at: int | None = None
    overfit_rate: float = 0.004  # relative val increase per epoch after overfit_at
    plateau_at: int | None = None  # val frozen from here on
    collapse_at: int | None = None
    explode_at: int | None = None
    explode_norm: float = 40.0
    nan_at: set[int] = field(default_factory=set)
    grad: float = 1.5
    seconds: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tau = self.tau or self.plan / 10
        self.align_at = self.plan / 20 if self.align_at is None else self.align_at

    def val(self, e: int) -> float:
        t = e if self.plateau_at is None else min(e, self.plateau_at)
        v = self.floor + self.height * math.exp(-t / self.tau)
        if self.overfit_at is not None and e > self.overfit_at:
            v *= 1.0 + self.overfit_rate * (e - self.overfit_at)
        return v

    def record(self, e: int, aligned: bool = True) -> Record:
        jitter = self.rng.gauss(0.0, self.noise) if self.noise else 0.0
        val = self.val(e) * (1.0 + jitter)
        train = (self.floor * 0.9 + self.height * math.exp(-e / self.tau)) * (1.0 + jitter / 2)
        if self.overfit_at is not None and e > self.overfit_at:
            train *= 1.0 - 0.001 * (e - self.overfit_at)
        z = min(50.0, max(-50.0, (e - self.align_at) / 2.0))
        att = self.attention_peak / (1.0 + math.exp(-z)) + 0.03
        if not aligned or (self.collapse_at is not None and e >= self.collapse_at):
            att = 0.05
        grad = self.grad * (1.0 + 0.1 * self.rng.random())
        if self.explode_at is not None and e >= self.explode_at:
            grad = self.explode_norm
            train *= 1.3  # an explosion hurts the loss (clipped harmless spikes do not)
        record: Record = {
            "epoch": e,
            "train_loss": train,
            "val_loss": val,
            "attention_score": att,
            "diagonality": min(0.95, att + 0.05),
            "gate_accuracy": 0.98,
            "grad_norm": grad,
            "grad_norm_max": grad * 1.5,
            "nonfinite_steps": 0.0,
            "batch_size": 16.0,
            "epoch_seconds": self.seconds,
            "step": float(e * 20),
        }
        if e in self.nan_at:
            record["val_loss"] = math.nan
            record["train_loss"] = math.nan
            record["nonfinite_steps"] = 20.0
        return record


@dataclass
class Run:
    decisions: list[tuple[int, Decision]]
    records: list[Record]
    controller: TrainingController
    lrs: list[float]
    cooldowns: list[int]  # the horizon's cool-down after each epoch was observed

    def actions(self, action: Action) -> list[tuple[int, Decision]]:
        return [(e, d) for e, d in self.decisions if d.action is action]

    @property
    def stop(self) -> tuple[int, Decision] | None:
        stops = self.actions(Action.STOP)
        return stops[-1] if stops else None


def simulate(
    config: Config,
    plan: TrainingPlan,
    record_at: Callable[[int, TrainingController, list[tuple[int, Decision]]], Record],
    controller: TrainingController | None = None,
    start: int = 1,
    lr_probes: int = 1,
) -> Run:
    """Feed epochs start..plan until STOP; elapsed = sum of epoch_seconds (like replay)."""
    c = controller or TrainingController(config, plan)
    decisions: list[tuple[int, Decision]] = []
    records: list[Record] = []
    lrs: list[float] = []
    cooldowns: list[int] = []
    elapsed = 0.0
    for e in range(start, plan.max_epochs + 1):
        for k in range(lr_probes):
            lrs.append(c.learning_rate(e - 1 + k / lr_probes))
        rec = record_at(e, c, decisions)
        elapsed += float(rec.get("epoch_seconds", 0.0))
        rec["elapsed_seconds"] = elapsed
        records.append(rec)
        for d in c.observe(rec, elapsed):
            if d.action is not Action.CONTINUE:
                decisions.append((e, d))
        cooldowns.append(c.horizon.cooldown)
        if c.stopped:
            break
    return Run(decisions, records, c, lrs, cooldowns)


def open_loop(curve: Curve) -> Callable[..., Record]:
    """Metrics that ignore every decision."""
    return lambda e, c, decisions: curve.record(e)


def plan_for(epochs: int, **kw: Any) -> TrainingPlan:
    kw.setdefault("learning_rate", 1e-3)
    kw.setdefault("batch_size", 16)
    kw.setdefault("min_batch_size", 8)
    kw.setdefault("max_batch_size", 32)
    return TrainingPlan(max_epochs=epochs, **kw)
