"""Workers: processes that take trials from a study until it has the trials it asked for.

Any number of them, on any number of machines, share one study through its storage. A worker
stops only when no trial is owed, waiting or running: while another worker's trial runs it
keeps watching, so that if that worker is killed, its trial (failed by the heartbeat check and
re-queued) is run here. Local workers take turns at "is a trial owed? then start one" through
a file lock, so they never start one trial too many; across machines the objective marks
such a surplus trial instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import multiprocessing as mp
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import TrialState

from smart_tuner.search.budget import INTERRUPTED, REQUEUED_FROM, budget_of
from smart_tuner.search.objective import Objective, TrialFailed
from smart_tuner.search.study import StudySpec, open_study

log = logging.getLogger("smart_tuner")


class StartLock:
    """An flock shared by the local workers of one study (released once a trial exists)."""

    def __init__(self, spec: StudySpec) -> None:
        key = hashlib.sha1(f"{spec.storage_url}|{spec.study_name}".encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"smart_tuner-study-{key}.lock"
        self._file = open(self.path, "a")  # noqa: SIM115 - held for the worker's life
        self.held = False

    def acquire(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._file, fcntl.LOCK_UN)


@dataclass
class WorkerResult:
    trials_run: int
    interrupted: bool = False


class StopRequest:
    """Ctrl-C and SIGTERM, noted as well as raised.

    Python raises KeyboardInterrupt wherever the main thread happens to be; when that is a
    garbage-collection or weakref callback (SQLAlchemy has some), the interpreter prints
    "Exception ignored" and carries on as if nothing happened. The note survives that: the
    worker and the objective look at it at every poll and raise the interrupt themselves.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> None:
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, self._handler)

    def _handler(self, signum: int, _frame: object) -> None:
        self.signum = signum
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise the interrupt that a swallowed KeyboardInterrupt should have been."""
        if self.signum is not None:
            raise KeyboardInterrupt


def run_worker(
    spec: StudySpec,
    worker: int = 0,
    poll_seconds: float = 2.0,
    stop: StopRequest | None = None,
) -> WorkerResult:
    """Take trials until the study has `spec.n_trials` counted trials and none is running."""
    stop = stop or StopRequest()
    study = open_study(spec, worker)
    lock = StartLock(spec)
    objective = Objective(spec, on_start=lock.release, should_stop=stop.check)
    run = 0
    try:
        while True:
            stop.check()
            lock.acquire()
            fail_stale_trials(study)
            budget = budget_of(study.get_trials(deepcopy=False), spec.n_trials)
            if budget.done:
                lock.release()
                return WorkerResult(run)
            if budget.owed == 0 and budget.waiting == 0:
                lock.release()  # others' trials are running: watch their heartbeats
                time.sleep(poll_seconds)
                continue
            try:
                study.optimize(objective, n_trials=1, catch=(TrialFailed,))
            finally:
                lock.release()
            run += 1
    except KeyboardInterrupt:
        for stop in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the re-queue
            signal.signal(stop, signal.SIG_IGN)
        lock.release()
        if objective.current is not None:
            requeue_interrupted(study, objective.current.number)
        return WorkerResult(run, interrupted=True)


def requeue_interrupted(study: optuna.Study, number: int) -> bool:
    """The trial Ctrl-C failed mid-run is queued again with the same parameters, so a re-run
    of the command continues the study without losing it."""
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state != TrialState.FAIL or trial.user_attrs.get("fail_reason") != INTERRUPTED:
        return False
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={REQUEUED_FROM: trial.number})
    return True


def _worker_main(spec: StudySpec, worker: int, log_path: str) -> None:
    """SIGTERM (`kill`, `docker stop`, a scheduler) ends a worker like Ctrl-C: the trial it
    cut short is re-queued instead of waiting for the heartbeat check."""
    logging.basicConfig(filename=log_path, level=logging.INFO)
    # Optuna's own notes (a trial cut short, with its traceback) and Python's warnings go to
    # the worker's log: on the terminal they would break the live table, and an interrupted
    # trial is no crash to show a traceback for
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    logging.captureWarnings(True)
    if spec.gpus:  # before CUDA starts: this worker and its trials see one GPU, as cuda:0
        os.environ["CUDA_VISIBLE_DEVICES"] = str(worker % spec.gpus)
        log.info("worker %d trains on GPU %d", worker, worker % spec.gpus)
    stop = StopRequest()
    stop.install()
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(spec, worker, stop=stop)


def start_workers(spec: StudySpec, count: int, first_index: int = 0) -> list[mp.Process]:
    """`count` worker processes (spawned: each a fresh interpreter), logging to the study
    folder."""
    ctx = mp.get_context("spawn")
    processes = []
    Path(spec.study_dir).mkdir(parents=True, exist_ok=True)
    for index in range(first_index, first_index + count):
        log_path = str(Path(spec.study_dir) / f"worker-{index}.log")
        process = ctx.Process(
            target=_worker_main, args=(spec, index, log_path), name=f"search-worker-{index}"
        )
        process.start()
        processes.append(process)
    return processes
