"""Real studies of real (tiny) training runs: several workers on SQLite and PostgreSQL, a
killed worker, an interrupted study, trials that diverge or raise, memory across trials."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from optuna.trial import TrialState

from smart_tuner.search.budget import budget_of
from smart_tuner.search.resume import LAST_CHECKPOINT, trained_epochs
from smart_tuner.search.storage import storage_url
from smart_tuner.search.study import open_study
from smart_tuner.search.worker import run_worker, start_workers


def finished(spec):
    study = open_study(spec)
    return study, study.get_trials(deepcopy=False)


def join(processes, timeout=240):
    for p in processes:
        p.join(timeout)
        assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"


def assert_none_lost_or_duplicated(spec, trials):
    budget = budget_of(trials, spec.n_trials)
    assert budget.done and budget.finished == spec.n_trials
    assert budget.running == budget.waiting == 0
    dirs = [t.user_attrs["run_dir"] for t in trials]
    assert len(set(dirs)) == len(dirs)  # one run folder per trial
    assert len({t.number for t in trials}) == len(trials)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_share_one_study(backend, make_spec, request):
    url = storage_url(request.getfixturevalue("postgres_url")) if backend != "sqlite" else None
    spec = make_spec(storage=url, n_trials=3, name=f"two-{backend}")
    join(start_workers(spec, 2))
    _, trials = finished(spec)
    assert len(trials) == 3
    assert_none_lost_or_duplicated(spec, trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2  # both took trials
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def checkpointed(trial) -> bool:
    return (Path(trial.user_attrs.get("run_dir", "/nowhere")) / LAST_CHECKPOINT).is_file()


def assert_continued(retry, before) -> None:
    """The retry resumed its predecessor's run after the epochs it had trained: one folder
    holding every epoch once, and Optuna told of every epoch, those before the kill too."""
    run_dir = Path(retry.user_attrs["run_dir"])
    assert retry.user_attrs["resumed_from"] == before.number
    assert run_dir == Path(before.user_attrs["run_dir"])
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    resumed_after = int(re.search(r"Resuming .* after epoch (\d+)", log, re.S).group(1))
    epochs = retry.user_attrs["epochs"]
    assert 1 <= resumed_after < epochs
    assert [e for e, _ in trained_epochs(run_dir)] == list(range(1, epochs + 1))
    assert sorted(retry.intermediate_values) == list(range(1, epochs + 1))


def test_a_killed_worker_s_trial_is_failed_and_retried_from_its_last_checkpoint(make_spec):
    spec = make_spec(n_trials=2, trial_epochs=6, name="killed")
    study = open_study(spec)
    [victim] = start_workers(spec, 1)

    def running():
        return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))

    wait_for(lambda: bool(running()) and checkpointed(running()[0]))
    killed = running()[0].number
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    join(start_workers(spec, 1, first_index=1))
    trials = study.get_trials(deepcopy=False)
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retries[0].params == trials[killed].params
    assert_continued(retries[0], trials[killed])
    assert_none_lost_or_duplicated(spec, [t for t in trials if t.number != killed])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_study_continues_when_run_again(make_spec, stop, capfd):
    spec = make_spec(n_trials=2, trial_epochs=3, name="interrupted")
    study = open_study(spec)
    [worker] = start_workers(spec, 1)
    wait_for(
        lambda: any(
            checkpointed(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        )
    )
    os.kill(worker.pid, stop)  # Ctrl-C, or kill / docker stop
    join([worker])
    # no traceback on the user's terminal: Optuna's note of the cut trial is in the worker log
    assert "Traceback" not in capfd.readouterr().err
    worker_log = (Path(spec.study_dir) / "worker-0.log").read_text(encoding="utf-8")
    assert "KeyboardInterrupt" in worker_log
    first = study.get_trials(deepcopy=False)
    cut = [t for t in first if t.state == TrialState.FAIL]
    assert len(cut) == 1 and cut[0].user_attrs["fail_reason"] == "interrupted (re-queued)"
    assert budget_of(first, spec.n_trials).waiting == 1
    join(start_workers(spec, 1))  # the same command again
    trials = study.get_trials(deepcopy=False)
    rerun = [t for t in trials if t.user_attrs.get("requeued_from") == cut[0].number]
    assert len(rerun) == 1 and rerun[0].params == cut[0].params
    assert_continued(rerun[0], cut[0])
    assert budget_of(trials, spec.n_trials).finished == 2


SANE = {
    "learning_rate": 1e-3,
    "batch_size": 8,
    "guided_attention_weight": 5.0,
    "p_attention_dropout": 0.1,
    "p_decoder_dropout": 0.1,
    "weight_decay": 1e-6,
    "grad_clip_thresh": 1.0,
    "n_frames_per_step": 2,
}


def test_diverging_trial_pruned_raising_trial_failed_and_the_study_goes_on(make_spec):
    spec = make_spec(n_trials=3, trial_epochs=3, name="outcomes", alignment_grace_epochs=10)
    study = open_study(spec)
    study.enqueue_trial({**SANE, "learning_rate": 5.0})  # no valid config: the trial raises
    # Adam at learning rate 1 without clipping: the loss explodes in the second epoch
    study.enqueue_trial({**SANE, "learning_rate": 1.0, "grad_clip_thresh": 1e9})
    with pytest.warns(UserWarning, match="out of range"):
        run_worker(spec)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3 and budget_of(trials, 3).done  # the study went on
    raised, diverged, sampled = trials
    assert raised.state == TrialState.FAIL and raised.value is None  # never a fake score
    assert "learning_rate" in raised.user_attrs["fail_reason"]
    assert diverged.state == TrialState.PRUNED
    assert diverged.user_attrs["pruned_reason"].startswith("diverged:")
    assert diverged.user_attrs["epochs"] < 3
    assert sampled.state == TrialState.COMPLETE and sampled.value is not None


def test_memory_after_many_trials_stays_near_the_first(make_spec):
    spec = make_spec(n_trials=1, name="memory")
    run_worker(spec)
    after_first = psutil.Process().memory_info().rss
    run_worker(spec.__class__(**{**spec.__dict__, "n_trials": 3}))
    after_three = psutil.Process().memory_info().rss
    _, trials = finished(spec)
    assert len(trials) == 3
    # each trial's model, optimizer and mel cache lived and died in its own process
    assert after_three - after_first < 40 * 2**20, (after_first, after_three)


def test_each_trial_tells_the_study_when_its_attention_formed(make_spec):
    """What the study's grace point is learned from: `attention_onset` on each trial, counted
    in the config's batch size (a threshold of 0 is met from the first epoch), and read back
    from finished trials only."""
    import optuna

    from smart_tuner.search.objective import ONSET, finished_onsets

    spec = make_spec(n_trials=2, trial_epochs=2, name="onsets")
    run_worker(spec)
    _, trials = finished(spec)
    base = spec.base_config().training.batch_size
    onsets = [base / t.params["batch_size"] for t in trials]  # epoch 1 of its own batch size
    assert [t.user_attrs[ONSET] for t in trials] == onsets
    assert finished_onsets(trials) == onsets
    running = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={ONSET: 3.0})
    never = optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={ONSET: None})
    assert finished_onsets([*trials, running, never]) == onsets
