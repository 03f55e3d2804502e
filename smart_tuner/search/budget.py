"""How many trials a study still owes: the arithmetic every worker, on every machine, agrees on.

`--trials N` asks for N trials that ran to an answer (complete, pruned or failed). A trial
whose worker died and that was re-queued by the heartbeat check does not count (its retry
does), nor does one cut short by Ctrl-C and re-queued on the next run, nor a surplus trial a
second machine started in the same instant as the last one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

REQUEUED_FROM = "requeued_from"  # user attribute of a trial re-queued after Ctrl-C
INTERRUPTED = "interrupted (re-queued)"  # fail_reason of the trial Ctrl-C cut short
SURPLUS = "surplus"  # user attribute: started after the study already had its N trials


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of trials that were re-queued as another (WAITING or later) trial: by the
    heartbeat check (a dead worker) or after Ctrl-C."""
    numbers: set[int] = set()
    for t in trials:
        numbers.update(int(n) for n in t.system_attrs.get("retry_history", []))
        if t.user_attrs.get(REQUEUED_FROM) is not None:
            numbers.add(int(t.user_attrs[REQUEUED_FROM]))
    return numbers


def counts_toward_budget(trial: FrozenTrial, retried: set[int]) -> bool:
    return not (
        trial.state == TrialState.FAIL
        and (trial.number in retried or trial.user_attrs.get(SURPLUS))
    )


@dataclass(frozen=True)
class Budget:
    requested: int
    finished: int  # complete + pruned + failed that count
    running: int
    waiting: int

    @property
    def owed(self) -> int:
        """Trials still to start (a WAITING trial is already one of them)."""
        return max(0, self.requested - self.finished - self.running - self.waiting)

    @property
    def done(self) -> bool:
        return self.finished >= self.requested or (
            self.owed == 0 and self.running == 0 and self.waiting == 0
        )


def budget_of(trials: list[FrozenTrial], requested: int) -> Budget:
    retried = retried_numbers(trials)
    finished = running = waiting = 0
    for t in trials:
        if not counts_toward_budget(t, retried):
            continue
        if t.state == TrialState.RUNNING:
            running += 1
        elif t.state == TrialState.WAITING:
            waiting += 1
        else:
            finished += 1
    return Budget(requested, finished, running, waiting)


def is_surplus(trial_number: int, trials: list[FrozenTrial], requested: int) -> bool:
    """True when `requested` counted trials were already created before this one (a race
    between machines: the check before starting and the start are not one transaction)."""
    retried = retried_numbers(trials)
    earlier = [
        t
        for t in trials
        if t.number < trial_number
        and counts_toward_budget(t, retried)
        and t.state != TrialState.WAITING
    ]
    return len(earlier) >= requested
