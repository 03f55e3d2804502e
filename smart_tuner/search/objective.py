"""The objective: one short training run of the trial's parameters, scored by its best
validation loss (or, with `search.objective: mel_quality`, by MCD-DTW of held-out speech).

The worker process hands the run to a child process (trial_process), reports each epoch's
loss to Optuna and asks the pruning policy whether to go on. Outcomes, all stored on the
trial so the table and the study say why:

* finished: its best validation loss (or mel_quality) is the value; epochs always report
  validation loss, which is what the pruners compare;
* pruned (diverged, attention not formed by the grace point, loss among the worst): PRUNED,
  reason in the user attribute `pruned_reason`;
* crashed (an exception, a killed process, no finite loss): FAIL, reason in `fail_reason`;
  never a fake score such as inf, and the study goes on.

A trial re-queued after its worker died or was interrupted continues its predecessor's run
from the last checkpoint (`search.resume`).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import optuna

from smart_tuner.config import Config
from smart_tuner.search.budget import INTERRUPTED, SURPLUS, is_surplus
from smart_tuner.search.mel_objective import SUMMARY_KEY, unscored_reason
from smart_tuner.search.pruning import LOSS_RULES, PruningPolicy, grace_for_batch
from smart_tuner.search.resume import RESUMED_FROM, resumable_run, trained_epochs
from smart_tuner.search.space import SearchSpace
from smart_tuner.search.study import OBJECTIVE, StudySpec
from smart_tuner.search.trial_process import TrialJob, run_trial

POLL_SECONDS = 0.5
ONSET = "attention_onset"  # user attr: epoch its attention formed, at the config's batch size


def finished_onsets(trials: Iterable[optuna.trial.FrozenTrial]) -> list[float]:
    """When the study's finished trials that ended with attention formed had formed it."""
    return [
        float(t.user_attrs[ONSET])
        for t in trials
        if t.state.is_finished() and isinstance(t.user_attrs.get(ONSET), int | float)
    ]


class TrialFailed(Exception):
    """The trial could not produce a score; the study records FAIL and goes on."""


def trial_config(spec: StudySpec, space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """The trial's training config: its parameters on the scaled-down budget."""
    base = spec.base_config()
    settings = base.search
    extra: dict[str, Any] = {"training.epochs": settings.trial_epochs}
    if settings.trial_max_minutes is not None:
        extra["training.max_minutes"] = settings.trial_max_minutes
    return space.apply(base, params, **extra).model_dump(mode="json")


def pruning_policy(
    base: Config,
    trial: dict[str, Any],
    study_onsets: Callable[[], Iterable[float]] | None = None,
) -> PruningPolicy:
    """The TTS pruning rule for one trial (`trial`: its config as trial_config made it), its
    grace point scaled to the trial's batch size. `study_onsets`: the epochs at which the
    study's finished trials formed attention, counted at the config's batch size (the
    `ONSET` attribute); used with `search.alignment_grace: study`."""
    settings = base.search
    batch_size = int(trial["training"]["batch_size"])
    onsets_here: Callable[[], list[int]] | None = None
    if settings.alignment_grace == "study" and study_onsets is not None:
        read, scale = study_onsets, batch_size / base.training.batch_size

        def scaled() -> list[int]:  # in this trial's epochs
            return [max(1, math.ceil(o * scale - 1e-9)) for o in read()]

        onsets_here = scaled
    return PruningPolicy(
        mode=settings.pruning,
        grace_epochs=grace_for_batch(
            settings.alignment_grace_epochs, batch_size, base.training.batch_size
        ),
        study_onsets=onsets_here,
        min_attention_score=settings.min_attention_score,
        attention_window=settings.attention_window,
        divergence_factor=settings.divergence_factor,
        objective=OBJECTIVE,
        loss_rule=LOSS_RULES[settings.loss_pruner],
    )


class Objective:
    def __init__(
        self,
        spec: StudySpec,
        on_start: Callable[[], None] | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.space = SearchSpace.from_config(spec.base_config())
        self.on_start = on_start  # called once the trial exists (releases the start lock)
        self.should_stop = should_stop  # raises KeyboardInterrupt once Ctrl-C was noted
        self.current: optuna.Trial | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial
        try:
            self._check_surplus(trial)
        finally:
            if self.on_start is not None:
                self.on_start()
        try:
            return self._run(trial, self._job(trial))
        except (TrialFailed, optuna.TrialPruned):
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", INTERRUPTED)
            raise
        except Exception as exc:  # a bad config, a bug, a lost storage: FAIL, study goes on
            reason = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", reason[:1000])
            raise TrialFailed(reason) from exc

    def _job(self, trial: optuna.Trial) -> TrialJob:
        params = self.space.suggest(trial)
        frozen = trial.study._storage.get_trial(trial._trial_id)
        resumed = resumable_run(frozen, trial.study.get_trials(deepcopy=False))
        run_dir = resumed.run_dir if resumed else self.spec.trials_dir / f"trial-{trial.number:04d}"
        if resumed is not None or RESUMED_FROM in frozen.user_attrs:  # a retry inherits attrs
            trial.set_user_attr(RESUMED_FROM, resumed.predecessor if resumed else None)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return TrialJob(
            config=trial_config(self.spec, self.space, params),
            dataset=self.spec.dataset,
            run_dir=str(run_dir),
            resume=resumed is not None,
            track=self.spec.track,
            analysis_drops=self.spec.analysis_drops,
            parent_run_id=self.spec.parent_run_id,
            nested_name=f"{self.spec.study_name}/trial-{trial.number}",
            run_params={
                **self.spec.run_params,
                "search_study": self.spec.study_name,
                "search_trial": trial.number,
                "search_params": params,
            },
        )

    def _check_surplus(self, trial: optuna.Trial) -> None:
        study = trial.study
        frozen = study._storage.get_trial(trial._trial_id)
        if {"fixed_params", "failed_trial"} & set(frozen.system_attrs):
            return  # a queued trial (warm start, retry) was counted while it waited
        trials = study.get_trials(deepcopy=False)
        if is_surplus(trial.number, trials, self.spec.n_trials):
            trial.set_user_attr(SURPLUS, True)
            reason = f"surplus: the study already had its {self.spec.n_trials} trials"
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason)

    def _run(self, trial: optuna.Trial, job: TrialJob) -> float:
        policy = pruning_policy(
            self.spec.base_config(),
            job.config,
            lambda: finished_onsets(trial.study.get_trials(deepcopy=False)),
        )
        ctx = mp.get_context("spawn")
        ours, theirs = ctx.Pipe()
        process = ctx.Process(target=run_trial, args=(job, theirs), name=f"trial-{trial.number}")
        process.start()
        theirs.close()
        pruned: str | None = None
        outcome: tuple[Any, ...] | None = None
        earlier = job.resume  # epochs the predecessor trained, still to tell Optuna
        try:
            while outcome is None:
                if self.should_stop is not None:
                    self.should_stop()
                if not ours.poll(POLL_SECONDS):
                    if not process.is_alive() and not ours.poll(0):
                        break
                    continue
                try:
                    message = ours.recv()
                except EOFError:
                    break
                if earlier:
                    before = message[1] if message[0] == "epoch" else None
                    self._recall(trial, policy, Path(job.run_dir), before)
                    earlier = False
                if message[0] == "epoch":
                    verdict = self._epoch(trial, policy, message[1], message[2])
                    if verdict is not None:
                        pruned = verdict
                    ours.send(("stop", verdict) if verdict else ("go",))
                else:
                    outcome = message
        finally:
            if outcome is None and process.is_alive():
                process.terminate()
            process.join()
            ours.close()
        return self._score(trial, outcome, pruned, process.exitcode, policy)

    def _recall(
        self, trial: optuna.Trial, policy: PruningPolicy, run_dir: Path, before: int | None
    ) -> None:
        """Report the epochs a resumed run trained before this trial began (those before
        `before`, the first epoch it trains itself; all when it had none left to train)."""
        for epoch, metrics in trained_epochs(run_dir, before):
            value = metrics.get(OBJECTIVE, math.nan)
            if math.isfinite(value):
                trial.report(value, epoch)
            policy.recall(epoch, metrics)
            trial.set_user_attr("epochs", epoch)
        self._publish_onset(trial, policy)

    def _epoch(
        self, trial: optuna.Trial, policy: PruningPolicy, epoch: int, metrics: dict[str, float]
    ) -> str | None:
        value = metrics.get(OBJECTIVE, math.nan)
        if isinstance(value, float) and math.isfinite(value):
            trial.report(value, epoch)
        trial.set_user_attr("epochs", epoch)
        trial.set_user_attr("attention_score", _rounded(metrics.get("attention_score")))
        verdict = policy.decide(epoch, metrics, trial.should_prune)
        self._publish_onset(trial, policy)
        return verdict.reason if verdict.prune else None

    def _publish_onset(self, trial: optuna.Trial, policy: PruningPolicy) -> None:
        """The epoch the trial's attention formed (None while not formed), counted at the
        config's batch size, for the grace point of the study's later trials."""
        onset = None
        if policy.onset is not None:
            base = self.spec.base_config().training.batch_size
            onset = policy.onset * base / int(trial.params.get("batch_size", base))
        if trial.user_attrs.get(ONSET) != onset:
            trial.set_user_attr(ONSET, onset)

    def _score(
        self,
        trial: optuna.Trial,
        outcome: tuple[Any, ...] | None,
        pruned: str | None,
        exitcode: int | None,
        policy: PruningPolicy,
    ) -> float:
        if policy.log:
            trial.set_user_attr("pruning_log", policy.log[-5:])
        if outcome is None:
            reason = f"the trial's process died (exit code {exitcode}) before reporting a result"
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason)
        if outcome[0] == "error":
            trial.set_user_attr("fail_reason", str(outcome[1])[:1000])
            raise TrialFailed(str(outcome[1]))
        summary = outcome[1]
        trial.set_user_attr("epochs", summary.get("epochs_run"))
        trial.set_user_attr("stop_reason", summary.get("stop_reason"))
        if pruned is not None:
            trial.set_user_attr("pruned_reason", pruned)
            raise optuna.TrialPruned(pruned)
        best = summary.get("best_val_loss")
        if best is None or not math.isfinite(float(best)):
            reason = "no finite validation loss in any epoch"
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason)
        if self.spec.settings.objective == "mel_quality":
            trial.set_user_attr("best_val_loss", float(best))
            best = summary.get(SUMMARY_KEY)
            if best is None or not math.isfinite(float(best)):
                reason = unscored_reason(self.spec.settings.objective_sentences)
                trial.set_user_attr("fail_reason", reason)
                raise TrialFailed(reason)
        return float(best)


def _rounded(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, int | float) else None


def trial_run_dir(trial: optuna.trial.FrozenTrial) -> Path | None:
    value = trial.user_attrs.get("run_dir")
    return Path(value) if value else None
