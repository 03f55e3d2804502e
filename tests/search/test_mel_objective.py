"""`search.objective: mel_quality`: trials ranked by the MCD-DTW of their held-out speech."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from optuna.trial import TrialState

from smart_tuner.config import config_from_dict
from smart_tuner.search.mel_objective import score_trial
from smart_tuner.search.storage import StorageError
from smart_tuner.search.study import open_study
from smart_tuner.search.worker import run_worker


def with_gate(spec, threshold: float):
    """The tiny model cannot stop after one epoch; its stop threshold decides for it here:
    0.001 stops within a few steps (a short but scorable sentence), 0.999999 never does."""
    config = dict(spec.config)
    config["model"] = {**config["model"], "gate_threshold": threshold}
    return dataclasses.replace(spec, config=config)


def test_a_trial_is_scored_by_the_mcd_of_its_held_out_speech(make_spec):
    spec = with_gate(
        make_spec(n_trials=1, name="mcd", objective="mel_quality", objective_sentences=2), 1e-3
    )
    run_worker(spec)
    study = open_study(spec)
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE, trial.user_attrs
    assert study.user_attrs["objective"] == "mel_quality"
    loss = trial.user_attrs["best_val_loss"]  # still reported, but not the value
    assert math.isfinite(loss) and trial.value != pytest.approx(loss)
    run_dir = Path(trial.user_attrs["run_dir"])
    assert len(list((run_dir / "objective_audio").glob("*.wav"))) == 2
    # the value is what the measurement gives for that checkpoint on those sentences
    config = config_from_dict(spec.config, "test")
    again = score_trial(run_dir, config, Path(spec.dataset))
    assert trial.value == pytest.approx(again["mel_quality"], rel=1e-4)
    assert 0.0 < trial.value < 100.0  # dB


def test_a_trial_whose_speech_never_stops_fails_with_the_reason(make_spec):
    spec = with_gate(
        make_spec(n_trials=1, name="mute", objective="mel_quality", objective_sentences=2),
        0.999999,
    )
    run_worker(spec)
    (trial,) = open_study(spec).get_trials(deepcopy=False)
    assert trial.state == TrialState.FAIL and trial.value is None  # never a fake score
    assert "none of the 2 held-out sentences gave audio" in trial.user_attrs["fail_reason"]


def test_a_study_keeps_the_objective_it_was_started_with(make_spec):
    open_study(make_spec(name="kept"))  # val_loss, the default
    with pytest.raises(StorageError, match="ranks its trials by val_loss.*mel_quality"):
        open_study(make_spec(name="kept", objective="mel_quality"))
    open_study(make_spec(name="kept"))  # the same objective resumes
