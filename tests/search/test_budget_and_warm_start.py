"""What a study still owes, and which earlier trials a new study starts from."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from smart_tuner.config import config_from_dict
from smart_tuner.search.budget import budget_of, is_surplus
from smart_tuner.search.space import SearchSpace
from smart_tuner.search.study import StudySpec, open_study
from smart_tuner.search.warm_start import pick_warm_starts, warm_starts_from_history
from smart_tuner.track.history import HistoryDB


def trial(number, state, **system):
    t = create_trial(
        state=state, value=1.0 if state == TrialState.COMPLETE else None, system_attrs=system
    )
    t.number = number
    return t


def test_a_retried_trial_counts_once_and_its_retry_is_owed():
    trials = [
        trial(0, TrialState.COMPLETE),
        trial(1, TrialState.FAIL),  # its worker died; re-queued as trial 2
        trial(2, TrialState.WAITING, failed_trial=1, retry_history=[1]),
        trial(3, TrialState.PRUNED),
    ]
    budget = budget_of(trials, requested=4)
    assert (budget.finished, budget.running, budget.waiting, budget.owed) == (2, 0, 1, 1)
    assert not budget.done
    trials[2] = trial(2, TrialState.COMPLETE, failed_trial=1, retry_history=[1])
    trials.append(trial(4, TrialState.FAIL))  # an ordinary crash counts
    assert budget_of(trials, requested=4).done


def test_a_trial_started_after_the_last_owed_one_is_surplus():
    trials = [trial(0, TrialState.COMPLETE), trial(1, TrialState.RUNNING)]
    assert not is_surplus(1, trials, requested=2)
    trials.append(trial(2, TrialState.RUNNING))
    assert is_surplus(2, trials, requested=2)


def small_space() -> SearchSpace:
    return SearchSpace.from_config(
        config_from_dict(
            {
                "hyperparameter_search_space": {
                    "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
                    "batch_size": {"choices": [8, 16]},
                    "guided_attention_weight": None,
                    "p_attention_dropout": None,
                    "p_decoder_dropout": None,
                    "weight_decay": None,
                    "grad_clip_thresh": None,
                    "n_frames_per_step": None,
                }
            }
        )
    )


def row(study, number, loss, lr, batch=8, similarity=1.0):
    return {
        "params": {
            "search_study": study,
            "search_trial": number,
            "search_params": {"learning_rate": lr, "batch_size": batch},
        },
        "best_val_loss": loss,
        "similarity": similarity,
    }


def test_warm_starts_are_the_best_distinct_in_space_params_of_other_studies():
    runs = [
        row("old", 0, 3.0, 1e-3),
        row("old", 1, 2.0, 2e-3),
        row("old", 2, 2.0, 2e-3),  # duplicate parameters
        row("old", 3, 1.0, 0.5),  # outside this space
        row("mine", 0, 0.5, 1e-3, batch=16),  # this study's own trial: resumed, not enqueued
        row("old", 4, None, 1e-3),  # no finite loss
    ]
    picks = pick_warm_starts(runs, small_space(), "mine", count=2)
    assert [p.params["learning_rate"] for p in picks] == [2e-3, 1e-3]
    assert "study old trial 1" in picks[0].note and "val_loss 2.0000" in picks[0].note


def test_a_run_whose_attention_never_formed_is_not_a_warm_start():
    unaligned = {**row("old", 0, 1.0, 4e-3), "final_metrics": {"attention_score": 0.2}}
    aligned = {**row("old", 1, 2.0, 2e-3), "final_metrics": {"attention_score": 0.8}}
    picks = pick_warm_starts([unaligned, aligned], small_space(), "new", 1, 0.3)
    assert [p.params["learning_rate"] for p in picks] == [2e-3]
    assert pick_warm_starts([unaligned], small_space(), "new", 1)[0].params["learning_rate"] == 4e-3


def test_warm_starts_come_from_similar_runs_in_the_history_database(tmp_path: Path):
    db = HistoryDB(tmp_path / "history.db")
    features = {"dataset_fingerprint": "abc", "dataset_hours": 1.0}
    for i, (loss, lr) in enumerate([(2.5, 1e-3), (1.5, 3e-3)]):
        db.record_run(
            run_dir=tmp_path / f"t{i}",
            summary={"best_val_loss": loss, "epochs_run": 3},
            params={
                "search_study": "old",
                "search_trial": i,
                "search_params": {"learning_rate": lr, "batch_size": 8},
            },
            features=features,
        )
    db.record_run(
        run_dir=tmp_path / "other",
        summary={"best_val_loss": 0.1},
        params={
            "search_study": "x",
            "search_trial": 0,
            "search_params": {"learning_rate": 5e-3, "batch_size": 8},
        },
        features={"dataset_fingerprint": "zzz", "dataset_hours": 300.0, "language": "ru"},
    )
    picks = warm_starts_from_history(tmp_path / "history.db", features, small_space(), "new", 1)
    assert [p.params for p in picks] == [{"learning_rate": 3e-3, "batch_size": 8}]
    study = optuna.create_study()
    study.enqueue_trial(picks[0].params, user_attrs={"warm_start": picks[0].note})
    first = study.ask({"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)})
    assert first.params["learning_rate"] == 3e-3


def _draw(spec: StudySpec) -> float:
    """One trial of a study opened afresh (as a re-run of `optimize` opens it): its point."""
    study = open_study(spec)
    trial = study.ask({"x": FloatDistribution(0.0, 1.0)})
    study.tell(trial, 1.0)
    return float(trial.params["x"])


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_seeded_study_draws_new_points_not_the_first_sessions(make_spec, sampler):
    spec = make_spec(sampler=sampler, seed=7)
    points = [_draw(spec) for _ in range(3)]
    assert len(set(points)) == 3


def test_a_seeded_study_starts_from_the_same_point(make_spec, tmp_path: Path):
    first = _draw(make_spec(seed=7, name="a"))
    assert _draw(make_spec(seed=7, name="b")) == first
    assert _draw(make_spec(seed=8, name="c")) != first
