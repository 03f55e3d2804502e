"""Properties over random troubled runs (hypothesis): whatever the metrics do, the controller's
decisions stay in bounds, never oscillate, and are reproducible (resume and replay)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart_tuner.config import Config, load_config
from smart_tuner.control import STOP_REASONS, Action, TrainingController, replay

from .synth import Curve, Run, plan_for, simulate

CORRECTIVE = {
    Action.SET_LR,
    Action.LR_RESTART,
    Action.RESET_ATTENTION,
    Action.ROLLBACK,
    Action.SET_BATCH_SIZE,
    Action.RESTART,
}
LR_CHANGES = {Action.SET_LR, Action.LR_RESTART, Action.ROLLBACK, Action.RESTART}
DESTRUCTIVE = {Action.LR_RESTART, Action.RESET_ATTENTION, Action.RESTART}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def troubled_runs(draw: Any) -> tuple[Config, Curve, dict[str, Any], dict[int, dict[str, float]]]:
    """A plan, a config, a base curve and per-epoch troubles (explosions, NaN, OOM, ...)."""
    plan = draw(st.integers(12, 150))
    epochs = st.integers(1, plan)
    curve = Curve(
        plan=plan,
        tau=plan / draw(st.floats(1.5, 25.0)),
        noise=draw(st.sampled_from([0.0, 0.01, 0.03, 0.08])),
        align_at=draw(st.sampled_from([plan / 20, plan / 3, 10 * plan])),
        overfit_at=draw(st.none() | epochs),
        overfit_rate=draw(st.floats(0.0, 0.03)),
        plateau_at=draw(st.none() | epochs),
        collapse_at=draw(st.none() | epochs),
        explode_at=draw(st.none() | epochs),
        nan_at=draw(st.sets(epochs, max_size=8)),
        seed=draw(st.integers(0, 10_000)),
    )
    troubles: dict[int, dict[str, float]] = {}
    for e in draw(st.sets(epochs, max_size=10)):
        troubles[e] = draw(
            st.sampled_from(
                [
                    {"grad_norm": 6.0},
                    {"grad_norm": 80.0},
                    {"oom_steps": 1.0},
                    {"nonfinite_steps": 4.0},
                ]
            )
        )
    overrides = {
        "training_recovery.max_restarts": draw(st.integers(0, 3)),
        "control.cooldown_epochs": draw(st.sampled_from([5, 20, 60])),
        "training_recovery.problem_detection.loss_plateau.action": draw(
            st.sampled_from(["lr_restart", "reduce_lr", "none"])
        ),
    }
    low, high = draw(st.sampled_from([(16, 16), (8, 32), (4, 64)]))
    plan_kw = {"min_batch_size": low, "max_batch_size": high}
    if draw(st.booleans()):
        plan_kw["max_minutes"] = draw(st.floats(1.0, plan * 10.0 / 60.0 * 1.5))
    return load_config(None, overrides), curve, plan_kw, troubles


def run_troubled(case: Any, controller: TrainingController | None = None) -> Run:
    config, curve, plan_kw, troubles = case

    def record(e: int, c: TrainingController, decisions: list) -> dict:
        return {**curve.record(e), **troubles.get(e, {})}

    plan = plan_for(curve.plan, **plan_kw)
    return simulate(config, plan, record, controller=controller, lr_probes=2)


@SETTINGS
@given(case=troubled_runs())
def test_decisions_stay_in_bounds_and_never_oscillate(case: Any):
    config = case[0]
    run = run_troubled(case)
    c = run.controller
    floor, ceiling = c.lr_bounds
    assert all(floor <= lr <= ceiling for lr in run.lrs)
    assert c.plan.min_batch_size <= c.batch_size <= c.plan.max_batch_size

    max_restarts = config.training_recovery.max_restarts
    kinds = [d.action for _, d in run.decisions]
    assert kinds.count(Action.RESTART) <= max_restarts
    assert kinds.count(Action.LR_RESTART) <= max_restarts

    last_lr = last_batch = last_shrink = last_reset = None
    by_epoch: dict[int, list[Action]] = {}
    for e, d in run.decisions:
        cooldown = run.cooldowns[e - 1]
        by_epoch.setdefault(e, []).append(d.action)
        assert d.reason
        json.dumps(d.params, allow_nan=False)
        if d.action in (Action.SET_LR, Action.LR_RESTART) and last_lr is not None:
            assert e - last_lr >= cooldown, (e, last_lr, d.reason)
        if d.action in LR_CHANGES:
            last_lr = e
        if d.action is Action.SET_BATCH_SIZE:
            size, old = d.params["batch_size"], d.params["previous"]
            assert c.plan.min_batch_size <= size <= c.plan.max_batch_size
            oom = "out of memory" in d.reason
            if last_batch is not None and not oom:
                assert e - last_batch >= cooldown
            if size > old and last_shrink is not None:
                assert e - last_shrink >= 4 * cooldown  # shrink then grow: slowly
            if size < old:
                last_shrink = e
            last_batch = e
        if d.action is Action.RESET_ATTENTION:
            assert last_reset is None or e - last_reset >= cooldown
            last_reset = e
        if d.action is Action.STOP:
            assert d.stop_reason in STOP_REASONS
            assert (e, d) == run.decisions[-1]
    for e, actions in by_epoch.items():
        assert sum(a in CORRECTIVE for a in actions) <= 1, (e, actions)
        for a in actions:
            if a in DESTRUCTIVE:
                assert actions.index(Action.CHECKPOINT) < actions.index(a)
    assert kinds.count(Action.STOP) == 1
    if c.plan.max_minutes:
        stop_epoch = run.stop[0]
        assert stop_epoch * curve_seconds(case) <= c.plan.max_minutes * 60.0 + 1e-6


def curve_seconds(case: Any) -> float:
    return case[1].seconds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=troubled_runs(), split=st.floats(0.05, 0.95))
def test_state_dict_round_trip_mid_run_continues_identically(case: Any, split: float):
    config, curve, plan_kw, troubles = case
    straight = run_troubled(case)
    k = max(1, min(len(straight.records) - 1, int(split * len(straight.records))))

    first = TrainingController(config, plan_for(curve.plan, **plan_kw))
    elapsed = 0.0
    for rec in straight.records[:k]:
        first.observe({**rec}, rec["elapsed_seconds"])
    saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    resumed = TrainingController(config, plan_for(7, learning_rate=0.1))  # plan comes from state
    resumed.load_state_dict(saved)
    assert resumed.plan == straight.controller.plan
    tail = []
    for rec in straight.records[k:]:
        elapsed = rec["elapsed_seconds"]
        probes = [resumed.learning_rate(rec["epoch"] - 1 + f) for f in (0.0, 0.5)]
        assert probes == straight.lrs[2 * (rec["epoch"] - 1) : 2 * rec["epoch"]]
        tail += [(rec["epoch"], d) for d in resumed.observe(rec, elapsed)]
    expected = [(e, d) for e, d in straight.decisions if e > straight.records[k - 1]["epoch"]]
    assert [(e, d) for e, d in tail if d.action is not Action.CONTINUE] == expected
    assert resumed.summary_fields() == straight.controller.summary_fields()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=troubled_runs())
def test_replay_of_a_recorded_run_gives_the_same_decisions_as_live(case: Any):
    config, curve, plan_kw, _ = case
    live = run_troubled(case)
    events = [{"event": "run_started", "params": {"plan": live.controller.plan.to_dict()}}]
    events += [{"event": "epoch_ended", **r} for r in live.records]
    replayed = replay(events, config)
    assert replayed == live.decisions


def test_non_finite_values_never_leak_into_params():
    curve = Curve(plan=60, nan_at={1, 2, 3, 30, 31, 32, 33, 34})
    run = simulate(Config(), plan_for(60), lambda e, c, d: curve.record(e))
    for _, d in run.decisions:
        json.dumps(d.params, allow_nan=False)
    json.dumps(run.controller.summary_fields(), allow_nan=False)
    assert all(math.isfinite(lr) for lr in run.lrs)
