"""Replaying recorded runs (smart-tuner replay), the S15 report text, and summary fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_tuner.config import Config, dump_config, load_config
from smart_tuner.control import (
    Action,
    Decision,
    ProgressReport,
    TrainingPlan,
    format_progress,
    replay,
    replay_run,
)
from smart_tuner.control.replay import epoch_records, infer_plan

from .synth import Curve, open_loop, plan_for, simulate

CONFIG = Config()


def write_run(run_dir: Path, config: Config, plan: TrainingPlan, curve: Curve) -> list:
    """A run folder as the loop writes it: config.yaml and metrics.jsonl with decisions."""
    live = simulate(config, plan, open_loop(curve))
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    lines = [{"event": "run_started", "run_dir": str(run_dir), "params": {"plan": plan.to_dict()}}]
    decisions = iter(live.decisions)
    pending = next(decisions, None)
    for record in live.records:
        lines.append({"event": "checkpoint_saved", "epoch": record["epoch"], "path": "x"})
        lines.append({"event": "epoch_ended", **record})
        while pending is not None and pending[0] == record["epoch"]:
            e, d = pending
            lines.append({"event": "decision", "epoch": e, **d.to_dict()})
            pending = next(decisions, None)
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"event": "epoch_e'  # torn
    (run_dir / "metrics.jsonl").write_text(text, encoding="utf-8")
    return live.decisions


def test_replay_run_reproduces_the_recorded_decisions(tmp_path: Path):
    curve = Curve(plan=200, tau=20, nan_at={70}, noise=0.01)
    recorded = write_run(tmp_path / "run", CONFIG, plan_for(200), curve)
    text = replay_run(tmp_path / "run")
    assert f"The recorded run took the same {len(recorded)} decisions." in text
    assert "rollback" in text and "Result: stop at epoch" in text
    assert "Forecast made at epoch" in text
    assert "📊 Epoch" in text  # the last progress analysis, printed in full


def test_replay_with_other_thresholds_shows_what_would_have_changed(tmp_path: Path):
    curve = Curve(plan=200, tau=20)
    write_run(tmp_path / "run", CONFIG, plan_for(200), curve)
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "early_stopping:\n  adaptive_thresholds:\n    learning_phase:\n"
        "      patience: 400\n      min_improvement: 0.0\n      attention_threshold: 0.8\n",
        encoding="utf-8",
    )
    text = replay_run(tmp_path / "run", strict)
    assert f"config {strict}" in text
    assert "First difference" in text
    assert "The recorded run stopped at epoch" in text


def test_replay_run_explains_a_missing_run(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        replay_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text("", encoding="utf-8")
    assert "no epoch records" in replay_run(tmp_path)


def test_plan_is_inferred_from_run_started_or_the_config():
    started = {
        "event": "run_started",
        "params": {"planned_epochs": 300, "learning_rate": 5e-4, "batch_size": 8},
    }
    plan = infer_plan([started], CONFIG)
    assert (plan.max_epochs, plan.learning_rate, plan.batch_size) == (300, 5e-4, 8)
    assert (plan.min_batch_size, plan.max_batch_size) == (8, 32)
    records = [{"event": "epoch_ended", "epoch": e, "batch_size": 32.0} for e in (1, 2)]
    plan = infer_plan(records, load_config(None, {"training.epochs": 50}))
    assert (plan.max_epochs, plan.batch_size) == (50, 32)


def test_epoch_records_are_deduplicated_and_ordered():
    events = [
        {"event": "epoch_ended", "epoch": 2, "val_loss": 1.0},
        {"event": "decision", "epoch": 2},
        {"event": "epoch_ended", "epoch": 1, "val_loss": 2.0},
        {"event": "epoch_ended", "epoch": 2, "val_loss": 0.5},
        {"epoch": 3, "val_loss": 0.4},  # bare synthetic records count too
    ]
    assert [(r["epoch"], r["val_loss"]) for r in epoch_records(events)] == [
        (1, 2.0),
        (2, 0.5),
        (3, 0.4),
    ]


def test_replay_stops_feeding_after_the_stop():
    curve = Curve(plan=100, tau=5)
    records = [curve.record(e) for e in range(1, 101)]
    decided = replay(records, CONFIG, plan_for(100))
    stops = [e for e, d in decided if d.action is Action.STOP]
    assert len(stops) == 1 and decided[-1][0] == stops[0] < 100


def test_format_progress_follows_the_users_example():
    report = ProgressReport(
        epoch=100,
        planned_epochs=3200,
        phase="learning",
        status="converging",
        overfitting_risk="low",
        continue_training=True,
        recommendation="Improving as expected.",
        remaining_epochs=3100,
    )
    assert format_progress(report).splitlines() == [
        "📊 Epoch 100 - progress analysis:",
        "   • Phase: learning",
        "   • Status: converging",
        "   • Overfitting risk: low",
        "   • Continue training: yes",
        "   • Remaining epochs: ~3100",
        "   • Recommendation: Improving as expected.",
    ]
    done = ProgressReport(
        epoch=2800,
        planned_epochs=3200,
        phase="fine_tuning",
        status="converged",
        overfitting_risk="medium",
        continue_training=False,
        recommendation="The model has converged.",
        remaining_epochs=0,
        risk_reasons=["diagonality 0.65 < 0.7"],
        stop_reason="converged",
    )
    text = format_progress(done)
    assert "• Continue training: no" in text and "Remaining" not in text
    assert "• Overfitting risk: medium (diagonality 0.65 < 0.7)" in text
    assert ProgressReport.from_dict(done.to_dict()) == done


def test_reports_come_every_interval_and_carry_the_forecast():
    run = simulate(CONFIG, plan_for(2000), open_loop(Curve(plan=2000, tau=300)))
    reports = run.actions(Action.REPORT)
    epochs = [e for e, _ in reports]
    assert epochs[:3] == [50, 100, 150]
    assert epochs[-1] == run.stop[0]
    at_100 = reports[1][1].params["report"]
    assert at_100["predicted_stop_epoch"] is not None and at_100["remaining_epochs"] > 0
    assert at_100["status"] in {"converging", "not_converged"}
    assert reports[0][1].params["report"]["predicted_stop_epoch"] is None  # not before 100
    assert run.controller.last_report is not None
    assert run.controller.last_report.epoch == epochs[-1]


def test_decision_round_trips_and_knows_what_is_informational():
    d = Decision(Action.STOP, "why", {"stop_reason": "budget"})
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert d.stop_reason == "budget" and not d.informational
    assert Decision(Action.REPORT, "r").informational
    assert Decision(Action.SET_LR, "x", {"stop_reason": "budget"}).stop_reason is None
