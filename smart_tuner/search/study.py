"""One study: what every worker needs to join it, and the sampler and pruner it runs with.

The spec is plain data, so a worker process (or a worker on another machine running the same
command) rebuilds the same study from it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from smart_tuner.config import Config, SearchSettings, config_from_dict
from smart_tuner.search.storage import StorageError, open_storage

# Heartbeats, fail_stale_trials and the matplotlib plots are "experimental" in Optuna 5 but
# the documented way to do this; one warning per call would drown the table.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

OBJECTIVE = "val_loss"  # what each epoch reports and the pruners compare


@dataclass(frozen=True)
class StudySpec:
    study_name: str
    storage_url: str
    study_dir: str
    dataset: str
    config: dict[str, Any]  # the base config (model_dump) the trials start from
    n_trials: int
    track: bool = True
    parent_run_id: str | None = None
    run_params: dict[str, Any] = field(default_factory=dict)
    analysis_drops: dict[str, str] = field(default_factory=dict)  # not in config dumps
    gpus: int = 0  # > 0: worker i trains on local GPU i % gpus (CUDA_VISIBLE_DEVICES)

    def base_config(self) -> Config:
        return config_from_dict(self.config, "study config")

    @property
    def settings(self) -> SearchSettings:
        return self.base_config().search

    @property
    def trials_dir(self) -> Path:
        return Path(self.study_dir) / "trials"


def make_sampler(
    settings: SearchSettings, n_trials: int, worker: int = 0, resumed_at: int = 0
) -> Any:
    """TPE (multivariate, constant liar so parallel workers do not pile onto one point), or
    random search. Each worker gets its own seed so two workers never draw the same points,
    and so does each resumption (`resumed_at`: trials the study already has): a sampler seeded
    as before would draw the first session's points again."""
    seed = None if settings.seed is None else sampler_seed(settings.seed, worker, resumed_at)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = max(2, min(10, n_trials // 3))
    return optuna.samplers.TPESampler(
        n_startup_trials=startup, multivariate=True, constant_liar=True, seed=seed
    )


def sampler_seed(seed: int, worker: int, resumed_at: int) -> int:
    """The search's seed for one worker of one session; the plain seed for the first worker of
    a new study, so a study with a given seed starts from the same points."""
    if worker == 0 and resumed_at == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker, resumed_at]).generate_state(1)[0])


def make_loss_pruner(settings: SearchSettings, trial_epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner on validation loss; the TTS rule decides when it may be asked."""
    if settings.pruning == "none":
        return optuna.pruners.NopPruner()
    first_rung = settings.alignment_grace_epochs if settings.pruning == "tts" else 1
    if settings.loss_pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=2, n_warmup_steps=max(1, min(first_rung, trial_epochs))
        )
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=max(1, min(first_rung, trial_epochs)), reduction_factor=3
    )


def open_study(spec: StudySpec, worker: int = 0) -> optuna.Study:
    settings = spec.settings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=open_storage(spec.storage_url, settings),
        study_name=spec.study_name,
        direction="minimize",
        sampler=make_sampler(settings, spec.n_trials, worker),
        pruner=make_loss_pruner(settings, settings.trial_epochs),
        load_if_exists=True,
    )
    existing = len(study.get_trials(deepcopy=False))
    if existing and settings.seed is not None:
        study.sampler = make_sampler(settings, spec.n_trials, worker, resumed_at=existing)
    _keep_one_objective(study, settings.objective)
    return study


def _keep_one_objective(study: optuna.Study, objective: str) -> None:
    """A study's values are one objective's: a resume with another one would rank dB of MCD
    against nats of loss, so it is refused (a study from before the switch is val_loss)."""
    stored = study.user_attrs.get("objective")
    if stored is None:
        stored = "val_loss" if study.get_trials(deepcopy=False) else objective
        study.set_user_attr("objective", stored)
    if stored != objective:
        raise StorageError(
            f"study {study.study_name!r} ranks its trials by {stored}, but search.objective is "
            f"{objective}: use another --study-name for a {objective} search, or set "
            f"search.objective: {stored} to continue this one"
        )


def study_objective(study: optuna.Study) -> str:
    return str(study.user_attrs.get("objective", OBJECTIVE))
