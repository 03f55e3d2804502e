"""The rule that splits `auto --max-minutes` between the stages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart_tuner.auto.budget import (
    EVALUATION_SHARE,
    SEARCH_SHARE,
    split_budget,
    trial_epochs,
)
from smart_tuner.cli import main
from smart_tuner.exit_codes import ExitCode


@given(
    total=st.floats(1.0, 10_000.0),
    trials=st.integers(0, 200),
    search=st.booleans(),
    evaluation=st.booleans(),
    elapsed=st.floats(0.0, 20_000.0),
)
def test_the_stages_never_get_more_than_the_budget(
    total: float, trials: int, search: bool, evaluation: bool, elapsed: float
) -> None:
    plan = split_budget(total, trials, search=search, evaluation=evaluation)
    searched = search and trials > 0
    assert plan.trials == (trials if search else 0)
    assert plan.search_minutes == (total * SEARCH_SHARE if searched else 0.0)
    if searched:
        assert math.isclose(plan.trial_minutes * trials, plan.search_minutes)
    else:
        assert plan.trial_minutes is None
    reserve = total * EVALUATION_SHARE if evaluation else 0.0
    assert plan.evaluation_minutes == reserve
    training = plan.training_minutes(elapsed)
    # whatever is left after the time spent and the evaluation's reserve, and never nothing
    assert training == max(1.0, total - elapsed - reserve)
    # a search that used its share leaves the training the rest of the budget, no more
    after_search = plan.training_minutes(plan.search_minutes)
    if total - plan.search_minutes - reserve >= 1.0:
        assert math.isclose(after_search + plan.search_minutes + reserve, total)


def test_no_budget_times_nothing_and_says_so() -> None:
    plan = split_budget(None, 10, search=True, evaluation=True)
    assert plan.training_minutes(12.0) is None and plan.trial_minutes is None
    assert "No --max-minutes" in plan.describe()[0]


def test_a_plan_is_printed_with_its_numbers() -> None:
    text = "\n".join(split_budget(60, 3, search=True, evaluation=True).describe())
    assert "search 24.0 min (40%): 3 trials of at most 8.0 min" in text
    assert "evaluation 6.0 min kept in reserve" in text


@given(recommended=st.integers(1, 100_000), configured=st.integers(1, 1000))
def test_trials_train_a_scaled_down_share_of_the_full_run(
    recommended: int, configured: int
) -> None:
    epochs = trial_epochs(recommended, configured)
    assert 1 <= epochs <= configured
    assert epochs <= max(1, round(recommended * 0.25))


def test_auto_refuses_a_missing_dataset_before_doing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "auto"
    code = main(["auto", str(tmp_path / "nope"), "--out", str(out), "--trials", "0"])
    assert code == ExitCode.BAD_INPUT
    assert "no such dataset folder or filelist" in " ".join(capsys.readouterr().out.split())
    assert not out.exists()
