"""The val-loss stops wait while the free-running speech still improves (quality_guard)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart_tuner.config import Config
from smart_tuner.control import Action, TrainingController
from smart_tuner.control.quality_guard import still_improving
from smart_tuner.control.replay import replay

from .synth import Curve, Run, plan_for, simulate

# mel_quality (dB) of the demo recipe's 120-minute trajectory, one snapshot per 10 minutes
TRAJECTORY = [7.23, 5.72, 5.40, 5.13, 4.97, 4.92, 4.93, 4.91, 4.91, 4.85, 4.86, 4.85]


def measured_every_ten(values: list[float]) -> list[tuple[int, float]]:
    return [(10 * (i + 1), v) for i, v in enumerate(values)]


def test_on_the_trajectory_the_stop_may_go_on_twenty_epochs_after_the_last_gain():
    series = measured_every_ten(TRAJECTORY)
    held = [
        still_improving(series[: n + 1], 0.05, epoch, patience=20) is not None
        for n, (epoch, _) in enumerate(series)
    ]
    # 4.92 at 60 min is the last gain of 0.05 dB; 4.93 and 4.91 follow without one
    assert held == [False, True, True, True, True, True, True, False, False, True, True, False]


def test_creeping_gains_add_up_against_the_same_reference():
    creeping = [(0, 5.0), (1, 4.97), (2, 4.94)]
    gain = still_improving(creeping, 0.05, 2, patience=5)
    assert gain is not None and gain.epoch == 2 and gain.previous_best == 5.0


def test_patience_counts_epochs_not_measurements():
    gain_then_flat = [(100, 5.5), (110, 5.3), (112, 5.31), (114, 5.32), (116, 5.3)]
    assert still_improving(gain_then_flat, 0.05, 116, patience=30) is not None
    assert still_improving(gain_then_flat, 0.05, 140, patience=30) is None


@given(
    st.lists(st.floats(1.0, 20.0), min_size=0, max_size=12),
    st.floats(0.0, 1.0),
    st.integers(1, 40),
)
def test_speech_that_does_not_get_better_never_holds_a_stop(values, delta, patience):
    series = measured_every_ten(sorted(values))
    assert still_improving(series, delta + 1e-9, 10 * len(values), patience) is None


@given(st.lists(st.floats(1.0, 20.0), min_size=2, max_size=12), st.integers(1, 40))
def test_a_hold_names_a_recent_measurement_that_beat_its_reference(values, patience):
    series = measured_every_ten(values)
    gain = still_improving(series, 0.05, series[-1][0], patience)
    if gain is not None:
        assert gain.mel_quality <= gain.previous_best - 0.05
        assert series[-1][0] - gain.epoch < patience


def overfitting_run(
    config: Config, improving_until: int | None, every: int = 10
) -> tuple[Run, list[dict[str, Any]]]:
    """A run over-fitting from epoch 60 (it stops at ~75 on val_loss alone), whose held-out
    speech is measured every `every` epochs and improves until `improving_until`."""
    curve = Curve(plan=200, tau=25, overfit_at=60, overfit_rate=3.0 / 200)
    measured: list[dict[str, Any]] = []

    def record_at(e: int, c: TrainingController, decisions: list) -> dict[str, Any]:
        done = e - 1  # measured after the previous epoch, as the monitor does
        if improving_until is not None and done > 0 and done % every == 0:
            value = 6.0 - 0.2 * min(done, improving_until) / every
            c.observe_quality(done, value)
            measured.append({"event": "quality_measured", "epoch": done, "mel_quality": value})
        return curve.record(e)

    return simulate(config, plan_for(200), record_at), measured


def test_without_quality_measurements_over_fitting_stops_as_before():
    run, _ = overfitting_run(Config(), improving_until=None)
    assert run.stop is not None and run.stop[1].stop_reason == "overfitting"
    assert 60 < run.stop[0] < 90
    assert not run.actions(Action.HOLD_STOP)


def test_the_stop_waits_while_the_speech_improves_and_goes_on_when_it_stops():
    run, _ = overfitting_run(Config(), improving_until=120)
    assert run.stop is not None
    epoch, stop = run.stop
    # the last gain is measured at 120: the stop goes on one phase patience later
    assert stop.stop_reason in ("overfitting", "converged"), stop.reason
    horizon = run.controller.horizon
    patience = horizon.patience[horizon.phase_at(epoch)]
    assert epoch == 120 + patience, (epoch, patience)
    holds = run.actions(Action.HOLD_STOP)
    assert holds and holds[0][0] < 90
    said_for = [d.params["quality_epoch"] for _, d in holds]
    assert said_for == sorted(said_for) and max(said_for) == 120
    assert len(holds) == len({e // 10 for e, _ in holds})  # once per measurement
    assert "still improves (mel_quality" in holds[0][1].reason
    held_reports = [
        d.params["report"]["recommendation"]
        for e, d in run.actions(Action.REPORT)
        if 90 < e < 120 + patience and d.params["report"]["overfitting_risk"] != "low"
    ]
    assert held_reports and all("training goes on until" in r for r in held_reports)


def test_the_guard_can_be_turned_off():
    config = Config()
    detection = config.overfitting_detection.model_copy(update={"quality_guard": False})
    config = config.model_copy(update={"overfitting_detection": detection})
    run, _ = overfitting_run(config, improving_until=120)
    assert run.stop is not None and run.stop[0] < 90
    assert not run.actions(Action.HOLD_STOP)


@pytest.mark.parametrize("improving_until", [None, 120])
def test_replay_feeds_the_recorded_measurements_and_decides_the_same(improving_until):
    run, measured = overfitting_run(Config(), improving_until)
    events = [*run.records, *measured]  # metrics.jsonl holds both kinds of lines
    replayed = [(e, d.action, d.reason) for e, d in replay(events, Config(), plan_for(200))]
    assert replayed == [(e, d.action, d.reason) for e, d in run.decisions]
