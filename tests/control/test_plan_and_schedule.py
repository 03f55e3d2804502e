"""Scaling the user's epoch numbers to a plan, and the learning-rate schedule (S11, S12)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.config import Config, load_config
from smart_tuner.control import Horizon, TrainingController, TrainingPlan

from .synth import plan_for

CONFIG = Config()


def test_default_plan_keeps_the_users_numbers():
    h = Horizon.build(CONFIG, 0, 2000)
    assert h.warmup == 100
    assert h.alignment_end == 500
    assert h.patience == {"alignment": 100, "learning": 150, "fine_tuning": 200}
    assert h.min_improvement == {"alignment": 0.01, "learning": 0.005, "fine_tuning": 0.001}
    assert h.attention_threshold == {"alignment": 0.5, "learning": 0.8, "fine_tuning": 0.9}
    assert h.plateau_patience == 100 and h.restart_warmup == 50
    assert h.report_interval == 50 and h.prediction_after == 100
    # fine-tuning keeps the last 20 % so that a 2000-epoch plan has one
    assert h.learning_end == 1600


def test_a_2500_epoch_plan_has_the_users_phase_bounds_exactly():
    config = load_config(None, {"control.reference_epochs": 2500})
    h = Horizon.build(config, 0, 2500)
    assert (h.alignment_end, h.learning_end) == (500, 2000)


def test_a_30_epoch_plan_still_warms_up_has_three_phases_and_is_analysed():
    h = Horizon.build(CONFIG, 0, 30)
    assert h.warmup >= 1
    assert 0 < h.alignment_end < h.learning_end < 30
    assert h.report_interval <= 10
    assert min(h.patience.values()) >= CONFIG.control.min_patience_epochs
    assert h.cooldown >= 2


@settings(max_examples=300, deadline=None)
@given(length=st.integers(3, 20000), start=st.integers(0, 5000))
def test_every_horizon_has_ordered_phases_inside_it(length: int, start: int):
    h = Horizon.build(CONFIG, start, start + length)
    assert start < h.alignment_end < h.learning_end < start + length
    assert 0 <= h.warmup <= length
    assert h.phase_at(start) == "alignment" and h.phase_at(start + length - 1) == "fine_tuning"
    assert 1 <= h.report_interval <= max(1, (start + length) // 3)
    assert 0 < h.ema_alpha <= 0.5


def test_plan_from_config_takes_batch_bounds_from_the_search_space():
    plan = TrainingPlan.from_config(CONFIG)
    assert (plan.max_epochs, plan.batch_size) == (2000, 16)
    assert (plan.min_batch_size, plan.max_batch_size) == (8, 32)
    assert TrainingPlan.from_config(CONFIG, 40, batch_size=64).max_batch_size == 64
    assert TrainingPlan.from_dict(plan.to_dict()) == plan


def test_plan_rejects_nonsense():
    with pytest.raises(ValueError, match="max_epochs"):
        TrainingPlan(max_epochs=0, learning_rate=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingPlan(max_epochs=10, learning_rate=0.0, batch_size=8)


def test_unknown_recovery_action_is_refused_with_the_allowed_ones():
    config = load_config(None, {"training_recovery.problem_detection.loss_plateau.action": "pray"})
    with pytest.raises(ValueError, match="lr_restart"):
        TrainingController(config, plan_for(100))


def lr_curve(c: TrainingController, end: int, per_epoch: int = 10) -> list[float]:
    return [c.learning_rate(i / per_epoch) for i in range(end * per_epoch + 1)]


@pytest.mark.parametrize("epochs", [30, 200, 2000])
def test_cosine_schedule_warms_up_then_anneals_to_the_min_lr_factor(epochs: int):
    c = TrainingController(CONFIG, plan_for(epochs, min_batch_size=16, max_batch_size=16))
    h = c.horizon
    assert c.learning_rate(0) == pytest.approx(1e-4)  # min_lr_factor x peak
    assert c.learning_rate(h.warmup) == pytest.approx(1e-3)
    lrs = lr_curve(c, epochs)
    peak = lrs.index(max(lrs))
    assert all(a <= b + 1e-15 for a, b in zip(lrs[:peak], lrs[1 : peak + 1], strict=True))
    assert all(a >= b - 1e-15 for a, b in zip(lrs[peak:], lrs[peak + 1 :], strict=False))
    assert c.learning_rate(epochs) == pytest.approx(1e-4)
    # halfway through the annealing the cosine is at its midpoint
    mid = (h.warmup + epochs) / 2
    assert c.learning_rate(mid) == pytest.approx(1e-4 + 0.5 * 9e-4, rel=1e-6)


def test_constant_and_disabled_schedules():
    const = load_config(None, {"adaptive_learning.lr_scheduling.scheduler_type": "constant"})
    c = TrainingController(const, plan_for(200))
    assert c.learning_rate(0) < c.learning_rate(50) == c.learning_rate(199) == 1e-3
    off = load_config(None, {"adaptive_learning.lr_scheduling.enabled": False})
    c = TrainingController(off, plan_for(200))
    assert {c.learning_rate(t) for t in (0, 10, 150)} == {1e-3}


def test_lr_bounds_cover_restart_peak_and_largest_batch():
    c = TrainingController(CONFIG, plan_for(100))
    floor, ceiling = c.lr_bounds
    assert floor == 1e-7
    assert ceiling == pytest.approx(1e-3 * 2.0 * math.sqrt(32 / 16))
