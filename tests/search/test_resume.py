"""Which run a re-queued trial continues, and the epochs it tells Optuna first (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from smart_tuner.search.budget import REQUEUED_FROM
from smart_tuner.search.resume import (
    LAST_CHECKPOINT,
    predecessor_of,
    resumable_run,
    trained_epochs,
)


def trial(number: int, run_dir: Path | None = None, **attrs) -> optuna.trial.FrozenTrial:
    system_attrs = attrs.pop("system_attrs", {})
    made = optuna.create_trial(
        state=TrialState.FAIL,
        params={"lr": 1e-3},
        distributions={"lr": FloatDistribution(1e-5, 1e-2, log=True)},
        user_attrs={"run_dir": str(run_dir), **attrs} if run_dir else attrs,
        system_attrs=system_attrs,
    )
    made.number = number
    return made


def run_folder(path: Path, checkpoint: bool = True) -> Path:
    (path / "checkpoints").mkdir(parents=True)
    if checkpoint:
        (path / LAST_CHECKPOINT).write_bytes(b"not read here")
    return path


def test_the_predecessor_is_the_last_heartbeat_retry_else_the_interrupted_trial():
    retried_twice = trial(7, system_attrs={"failed_trial": 2, "retry_history": [2, 5]})
    assert predecessor_of(retried_twice) == 5
    assert predecessor_of(trial(4, **{REQUEUED_FROM: 3})) == 3
    assert predecessor_of(trial(1)) is None


def test_a_retry_continues_its_predecessor_s_folder_only_when_it_holds_a_checkpoint(
    tmp_path: Path,
):
    saved = trial(2, run_folder(tmp_path / "trial-0002"))
    unsaved = trial(3, run_folder(tmp_path / "trial-0003", checkpoint=False))
    trials = [saved, unsaved]
    retry = trial(5, system_attrs={"failed_trial": 2, "retry_history": [2]})
    found = resumable_run(retry, trials)
    assert found is not None and found.predecessor == 2
    assert found.run_dir == tmp_path / "trial-0002"
    assert resumable_run(trial(6, **{REQUEUED_FROM: 3}), trials) is None  # died in epoch 1
    assert resumable_run(trial(8, **{REQUEUED_FROM: 9}), trials) is None  # unknown trial
    assert resumable_run(trial(9), trials) is None  # not a retry


def test_trained_epochs_are_the_epoch_records_before_the_first_new_one(tmp_path: Path):
    lines = [
        json.dumps({"event": "run_started", "epoch": 0}),
        *(
            json.dumps({"event": "epoch_ended", "epoch": e, "val_loss": 5.0 - e, "ok": True})
            for e in (1, 2, 3)
        ),
        '{"event": "epoch_ended", "epoch": 4, "val_lo',  # torn by a kill
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    everything = trained_epochs(tmp_path)
    assert [e for e, _ in everything] == [1, 2, 3]
    assert everything[0][1]["val_loss"] == 4.0 and "ok" not in everything[0][1]
    assert [e for e, _ in trained_epochs(tmp_path, before=3)] == [1, 2]
    assert trained_epochs(tmp_path / "missing") == []
