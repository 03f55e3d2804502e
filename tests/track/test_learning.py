"""The learning rule on simulated histories: converges to the true factor, ignores the unlike."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest

from smart_tuner.history_learning import (
    EpochCorrection,
    learn_epoch_correction,
    profile_similarity,
)
from smart_tuner.track import epoch_correction, run_profile_params
from smart_tuner.track.history import HistoryDB

SMALL = {"dataset_hours": 0.8, "quality_percent": 85.0, "complexity_level": "simple"}
HUGE = {"dataset_hours": 40.0, "quality_percent": 97.0, "complexity_level": "complex"}


def simulated_runs(
    n: int,
    true_factor: float,
    profile: dict,
    *,
    table: int = 3000,
    noise: float = 0.1,
    seed: int = 0,
    stop_reason: str = "converged",
    prefix: str = "run",
) -> list[dict]:
    """Runs whose true best epoch = table x factor x lognormal noise, on profiles near `profile`."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        best = round(table * true_factor * math.exp(rng.gauss(0.0, noise)))
        features = {
            **profile,
            "dataset_hours": profile["dataset_hours"] * math.exp(rng.uniform(-0.2, 0.2)),
            "quality_percent": profile["quality_percent"] + rng.uniform(-3, 3),
            "table_epochs": table,
        }
        rows.append(
            {
                "run_id": f"{prefix}-{i}",
                "best_epoch": best,
                "epochs_run": best + 200,
                "stop_reason": stop_reason,
                "features": features,
            }
        )
    return rows


def test_an_empty_history_gives_the_table_value_and_the_base_confidence():
    c = learn_epoch_correction(SMALL, [], base_confidence=0.6)
    assert (c.factor, c.confidence, c.runs_used) == (1.0, 0.6, [])
    assert c.apply(3000) == 3000
    assert c.rationale


@pytest.mark.parametrize("true_factor", [1.4, 0.7])
def test_it_converges_to_the_true_factor_and_grows_more_confident(true_factor):
    history = simulated_runs(40, true_factor, SMALL, seed=int(true_factor * 10))
    results = [learn_epoch_correction(SMALL, history[:n]) for n in (1, 3, 10, 40)]
    errors = [abs(math.log(c.factor / true_factor)) for c in results]
    assert errors == sorted(errors, reverse=True)  # closer with every batch of evidence
    assert errors[-1] < math.log(1.06)  # within 6 % after 40 runs
    assert errors[0] > math.log(1.15)  # one run is not trusted fully (shrinkage)
    confidences = [c.confidence for c in results]
    assert confidences == sorted(confidences) and confidences[0] > 0.5
    assert confidences[-1] > 0.8
    assert len(results[-1].runs_used) == 40
    rationale = results[-1].rationale
    assert sum(line.startswith("run run-") for line in rationale) == 5  # the weightiest five
    assert rationale[-1] == "... and 35 more run(s)"
    assert results[0].rationale[1].startswith("run run-0 (similarity ")


def test_dissimilar_datasets_do_not_move_it():
    history = simulated_runs(30, 0.5, HUGE, prefix="huge")
    c = learn_epoch_correction(SMALL, history)
    assert c == EpochCorrection(c.factor, c.confidence, c.rationale, [])
    assert (c.factor, c.confidence) == (1.0, 0.5)
    # ... and they do not dilute what similar runs say either
    mixed = history + simulated_runs(10, 1.3, SMALL, prefix="small")
    alone = learn_epoch_correction(SMALL, simulated_runs(10, 1.3, SMALL, prefix="small"))
    assert learn_epoch_correction(SMALL, mixed).factor == alone.factor


def test_the_same_dataset_fingerprint_counts_fully_whatever_the_features():
    me = {**SMALL, "dataset_fingerprint": "abc"}
    assert profile_similarity(me, {"dataset_fingerprint": "abc"}) == 1.0
    assert profile_similarity(SMALL, {}) == 0.0  # nothing comparable: no evidence
    assert profile_similarity(SMALL, {**SMALL, "dataset_hours": 1.6}) == pytest.approx(
        math.exp(-0.5)
    )  # twice the audio = one unit of distance


def test_runs_cut_short_while_improving_count_only_as_lower_bounds():
    # A 20-minute budget run that stopped at epoch 40 of 3000 says nothing about "fewer epochs".
    short = simulated_runs(5, 40 / 3000, SMALL, stop_reason="time_budget", noise=0.0)
    for row in short:
        row["epochs_run"] = row["best_epoch"]  # still improving at the very end
    c = learn_epoch_correction(SMALL, short)
    assert (c.factor, c.runs_used) == (1.0, [])
    # Runs that hit their epoch limit still improving at 1.5x the table push the factor up.
    long = simulated_runs(5, 1.5, SMALL, stop_reason="epochs_completed", noise=0.0)
    for row in long:
        row["epochs_run"] = row["best_epoch"]
    c = learn_epoch_correction(SMALL, long)
    assert c.factor > 1.1 and len(c.runs_used) == 5
    assert "lower bound" in " ".join(c.rationale)


def test_rows_without_a_table_value_or_best_epoch_are_skipped():
    rows = [
        {"run_id": "a", "best_epoch": 100, "features": SMALL},
        {"run_id": "b", "best_epoch": 0, "features": {**SMALL, "table_epochs": 100}},
    ]
    c = learn_epoch_correction(SMALL, rows)
    assert (c.factor, c.runs_used) == (1.0, [])
    assert "none usable" in c.rationale[0]


def test_a_long_plateau_counts_as_observed_but_a_short_demo_run_does_not():
    plateau = {
        "run_id": "p",
        "best_epoch": 2000,
        "epochs_run": 2600,
        "stop_reason": "epochs_completed",
        "features": {**SMALL, "table_epochs": 2500},
    }
    c = learn_epoch_correction(SMALL, [plateau])
    assert c.runs_used == ["p"] and c.factor < 1.0
    demo = {
        "run_id": "demo-1",
        "best_epoch": 30,
        "epochs_run": 40,
        "stop_reason": "budget",
        "features": {**SMALL, "table_epochs": 4000},
    }
    c = learn_epoch_correction(SMALL, [demo])
    assert (c.factor, c.runs_used) == (1.0, [])
    assert c.rationale[1].startswith("run demo-1 (similarity 1.00): stopped (budget)")


def test_profile_params_and_the_correction_from_the_configured_database(tmp_path):
    profile = {
        "dataset": "/data/x",
        "total_seconds": 5400.0,
        "quality_percent": 88.0,
        "complexity_level": "moderate",
        "language": "ru",
        "files": [{"id": "a", "duration": 2.5}, {"id": "b", "duration": 3.0}],
    }
    plan = SimpleNamespace(
        epochs=2200, base_epochs=2000, modifiers=[SimpleNamespace(fraction=-0.1)]
    )
    params = run_profile_params(profile, plan)
    assert params["dataset_hours"] == 1.5 and params["table_epochs"] == 1800
    assert params["recommended_epochs"] == 2200 and len(params["dataset_fingerprint"]) == 16
    moved = {**profile, "dataset": "/elsewhere/x"}
    assert run_profile_params(moved)["dataset_fingerprint"] == params["dataset_fingerprint"]

    from synthetic_run import tracking_config

    config = tracking_config(tmp_path)
    assert epoch_correction(config, params).factor == 1.0  # no database yet
    db = HistoryDB(tmp_path / "smart_tuner" / "history.db")
    db.record_run(
        run_dir=tmp_path / "runs" / "first",
        summary={"best_epoch": 2400, "epochs_run": 2700, "stop_reason": "converged"},
        params={**params, "preset": "base"},
    )
    c = epoch_correction(config, params)
    assert c.factor > 1.0 and c.runs_used == [db.runs()[0]["run_id"]]
    assert "run first-" in c.rationale[1] and "same dataset" in c.rationale[1]


def test_a_short_budget_run_that_stopped_early_does_not_cut_the_recommendation():
    short = {
        "run_id": "ru2",
        "best_epoch": 1,
        "epochs_run": 9,
        "stop_reason": "no_improvement",
        "features": {**SMALL, "table_epochs": 3200},
    }
    c = learn_epoch_correction(SMALL, [short])
    assert c.factor == 1.0 and c.runs_used == []


def _full_schedule_run(run_id: str, best: int, run: int, schedule: int, stop: str) -> dict:
    return {
        "run_id": run_id,
        "best_epoch": best,
        "epochs_run": run,
        "stop_reason": stop,
        "summary": {"controller": {"effective_epochs": schedule}},
        "features": {**SMALL, "table_epochs": 3200},
    }


def test_an_early_stop_on_the_full_schedule_is_evidence_but_a_squeezed_one_is_not():
    full = _full_schedule_run("full", best=300, run=450, schedule=3200, stop="overfitting")
    c = learn_epoch_correction(SMALL, [full])
    assert c.runs_used == ["full"] and c.factor < 0.7
    assert any("run full" in line and "best epoch 300" in line for line in c.rationale)
    squeezed = _full_schedule_run("budget", best=300, run=450, schedule=500, stop="overfitting")
    assert learn_epoch_correction(SMALL, [squeezed]).runs_used == []
    # stopped before any patience could run out: a broken run, not a fast dataset
    broken = _full_schedule_run("broken", best=5, run=40, schedule=3200, stop="no_improvement")
    assert learn_epoch_correction(SMALL, [broken]).factor == 1.0
