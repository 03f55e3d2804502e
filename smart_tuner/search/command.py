"""`smart-tuner optimize DATASET`: hyperparameter search on Optuna (S8), on many machines (S27).

    smart-tuner optimize DATASET --trials 20                      # SQLite, one worker
    smart-tuner optimize DATASET --trials 40 --workers 2 --storage postgresql://u:p@db/st
    (the same command on another machine joins the study; re-running it resumes)

The command creates (or loads) the study, enqueues warm starts, starts the workers, shows a
live table of the trials until no trial is owed or running, then writes the outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from smart_tuner.config import Config, ConfigError, SearchSettings

REFRESH_SECONDS = 2.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", nargs="?", help="LJSpeech-style folder or path|text filelist")
    p.add_argument("--dataset", dest="dataset_flag", help=argparse.SUPPRESS)
    p.add_argument("--trials", type=int, default=20, help="trials the study should have")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    p.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="one worker per GPU of this machine (N workers, worker i on GPU i)",
    )
    p.add_argument("--storage", help="SQLAlchemy URL (default sqlite smart_tuner/optuna.db)")
    p.add_argument("--study-name", help="default: optimize-<dataset folder name>")
    p.add_argument("--out", help="study folder (default runs/<study name>)")
    p.add_argument("--trial-epochs", "--epochs", type=int, dest="trial_epochs")
    p.add_argument("--trial-minutes", "--max-minutes", type=float, dest="trial_minutes")
    p.add_argument("--batch-size", type=int, help="fix the batch size instead of searching it")
    p.add_argument("--sampler", choices=["tpe", "random"])
    p.add_argument("--pruning", choices=["tts", "loss_only", "none"])
    p.add_argument(
        "--objective",
        choices=["val_loss", "mel_quality"],
        help="rank trials by best validation loss (default) or by MCD-DTW of held-out speech",
    )
    p.add_argument("--preset", choices=["small", "base"])
    p.add_argument("--seed", type=int)
    p.add_argument("--no-warm-start", action="store_true", help="no analysis, no warm start")
    p.add_argument("--no-track", action="store_true", help="no MLflow/TensorBoard/history")
    p.add_argument("--config", help="config.yaml (default ./config.yaml if present)")


def study_name_for(dataset: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset.resolve().name).strip("-") or "dataset"
    return f"optimize-{name}"


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "search.trial_epochs": args.trial_epochs,
        "search.trial_max_minutes": args.trial_minutes,
        "search.sampler": args.sampler,
        "search.pruning": args.pruning,
        "search.objective": args.objective,
        "search.seed": args.seed,
        "model.preset": args.preset,
    }
    if args.batch_size is not None:
        overrides["hyperparameter_search_space.batch_size"] = {"choices": [args.batch_size]}
    return overrides


# The demo corpus is small (~13 updates per epoch at batch 16): the small model aligned at
# epoch 19-20 there (~250 updates), so the default grace point (10) would judge it too early.
DEMO_GRACE_EPOCHS = 20


def run(args: argparse.Namespace, console: Console) -> int:
    from smart_tuner.exit_codes import UserError
    from smart_tuner.resolve import config_for, dataset_for, is_demo_corpus

    if args.gpus is not None:
        if args.gpus < 1:
            raise UserError("--gpus must be at least 1")
        args.workers = args.gpus
    if args.trials < 1 or args.workers < 1:
        raise UserError("--trials and --workers must be at least 1")
    config = config_for(args.config, _overrides(args))
    dataset = dataset_for(args.dataset or args.dataset_flag, config, console)
    if not dataset.exists():
        raise UserError(f"{dataset}: no such dataset folder or filelist")
    if is_demo_corpus(dataset) and args.preset is None:
        # The demo recipe, as `demo` and `auto` use it: trials of the model a CPU trains.
        recipe = {"model.preset": "small", "search.alignment_grace_epochs": DEMO_GRACE_EPOCHS}
        config = config_for(args.config, {**_overrides(args), **recipe})
        console.print(
            "Demo recipe: the `small` preset (--preset base for the paper's sizes), attention "
            f"judged from epoch {DEMO_GRACE_EPOCHS} of batch {config.training.batch_size} on."
        )
    name = args.study_name or study_name_for(dataset)
    study_dir = Path(args.out) if args.out else Path("runs") / name
    result = run_search(
        dataset,
        config,
        study_dir,
        n_trials=args.trials,
        workers=args.workers,
        gpus=args.gpus or 0,
        storage=args.storage,
        study_name=name,
        warm_start=not args.no_warm_start,
        track=not args.no_track,
        console=console,
    )
    return int(result.exit_code)


@dataclass
class SearchResult:
    exit_code: int
    output: Any  # output.StudyOutput
    study_name: str
    storage_url: str


def run_search(
    dataset: Path,
    config: Config,
    study_dir: Path,
    *,
    n_trials: int,
    workers: int = 1,
    gpus: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    warm_start: bool = True,
    track: bool = True,
    console: Console,
) -> SearchResult:
    """Create or resume the study, run `workers` local workers until it has `n_trials`
    trials, write the outputs (see output.py). Re-running with the same name continues it."""
    from smart_tuner.exit_codes import ExitCode
    from smart_tuner.search.output import write_outputs
    from smart_tuner.search.space import SearchSpace
    from smart_tuner.search.storage import StorageError, redact, storage_url
    from smart_tuner.search.study import StudySpec, open_study

    space = SearchSpace.from_config(config)  # a bad range fails here, before any trial
    name = study_name or study_name_for(dataset)
    url = storage_url(storage)
    settings = config.search
    config = _share_cores(config, workers, gpus, console)
    spec = StudySpec(
        study_name=name,
        storage_url=url,
        study_dir=str(study_dir.resolve()),
        dataset=str(dataset.resolve()),
        config=config.model_dump(mode="json"),
        n_trials=n_trials,
        track=track,
        gpus=gpus,
    )
    try:
        study = open_study(spec)  # a bad URL or a server down fails here, before any work
    except StorageError as exc:
        raise ConfigError(str(exc)) from None
    features: dict[str, Any] = {}
    if warm_start:
        from smart_tuner.data.hygiene import with_analysis_drops
        from smart_tuner.history_learning import profile_features_of
        from smart_tuner.pipeline import recommend_for

        rec = recommend_for(dataset, config, console)
        features = profile_features_of(rec.profile)
        config = with_analysis_drops(config, rec.profile.problems)
        spec = replace(spec, run_params=rec.run_params)
    if track:
        from smart_tuner.track.mlflow_tracker import start_parent_run

        spec = replace(spec, parent_run_id=start_parent_run(config, study_dir, name=name))
    spec = replace(spec, analysis_drops=dict(config.data.analysis_drops))
    fresh = not study.get_trials(deepcopy=False)
    console.print(
        f"[bold]Study {name}[/bold] in {redact(url)} "
        f"({'new' if fresh else f'resumed with {len(study.trials)} trials'}): {n_trials} trials "
        f"of at most {settings.trial_epochs} epochs"
        + (f" / {settings.trial_max_minutes:g} min" if settings.trial_max_minutes else "")
        + f", {settings.sampler.upper()} sampler, ranked by {_objective_words(settings)}, "
        f"pruning '{settings.pruning}' on val_loss (grace point, in epochs of batch size "
        f"{config.training.batch_size} and the same number of updates at another: "
        f"{_grace_words(settings)}), "
        f"{workers} worker(s) here"
        + (f", one per GPU ({gpus} GPUs). " if gpus else ". ")
        + f"Searched: {', '.join(space.keys)}. Study folder: {study_dir}"
    )
    if fresh and warm_start:
        _enqueue_warm_starts(study, config, features, space, name, console)
    elif fresh:
        console.print("Warm start: off (--no-warm-start).")
    interrupted, failed_workers = _run_workers(spec, study, workers, console)
    out = write_outputs(study, spec.base_config(), Path(spec.study_dir))
    _report(out, spec, study, console, config, interrupted)
    if interrupted:
        code = ExitCode.INTERRUPTED
    elif failed_workers:
        console.print(f"[red]{failed_workers} worker(s) exited with an error; see worker-*.log[/]")
        code = ExitCode.FAILED
    else:
        code = ExitCode.OK if out.best_config is not None else ExitCode.FAILED
    return SearchResult(int(code), out, name, url)


def _share_cores(config: Config, workers: int, gpus: int, console: Console) -> Config:
    """CPU workers split the cores: two trials each using every core slow each other ~10x
    (their thread barriers collide). The user's `training.num_threads` wins."""
    if gpus or workers < 2 or config.training.num_threads is not None:
        return config
    threads = max(1, (os.cpu_count() or 1) // workers)
    console.print(
        f"{workers} CPU workers: each trial uses {threads} thread(s) (training.num_threads)."
    )
    training = config.training.model_copy(update={"num_threads": threads})
    return config.model_copy(update={"training": training})


def _objective_words(settings: Any) -> str:
    if settings.objective == "mel_quality":
        return (
            f"mel_quality (MCD-DTW of {settings.objective_sentences} held-out sentences spoken "
            "by each trial's best checkpoint)"
        )
    return "best val_loss"


def _enqueue_warm_starts(
    study: Any, config: Config, features: dict[str, Any], space: Any, name: str, console: Console
) -> None:
    from smart_tuner.search.warm_start import warm_starts_from_history
    from smart_tuner.track._util import resolve_path

    db = resolve_path(config.tracking.history.path)
    picks = warm_starts_from_history(
        db,
        features,
        space,
        name,
        config.search.warm_start_trials,
        config.search.min_attention_score,
    )
    if not picks:
        console.print("Warm start: no earlier study on a similar dataset in the history.")
    for pick in picks:
        study.enqueue_trial(pick.params, user_attrs={"warm_start": pick.note})
        console.print(f"Warm start: enqueued the best parameters of {pick.note}.")


def _run_workers(spec: Any, study: Any, workers: int, console: Console) -> tuple[bool, int]:
    """Start the workers and show the live table until they stop: (interrupted, failed)."""
    from smart_tuner.search.table import trials_table
    from smart_tuner.search.worker import start_workers

    processes = start_workers(spec, workers)
    title = f"{spec.study_name}: {spec.n_trials} trials requested"
    objective = spec.settings.objective
    interrupted = False
    terminated: list[int] = []

    def on_sigterm(signum: int, _frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with Live(console=console, auto_refresh=False, transient=True) as live:
            while any(p.is_alive() for p in processes):
                trials = study.get_trials(deepcopy=False)
                live.update(trials_table(trials, title, objective=objective), refresh=True)
                time.sleep(REFRESH_SECONDS)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]Interrupted: waiting for the workers to re-queue their trials.[/]")
        for p in processes:  # Ctrl-C reached the workers too; a SIGTERM to this process not
            if terminated and p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
    for p in processes:
        p.join()
    signal.signal(signal.SIGTERM, previous)  # the command's own handling from here on
    return interrupted, sum(p.exitcode not in (0, None) for p in processes)


def _report(
    out: Any, spec: Any, study: Any, console: Console, config: Config, interrupted: bool
) -> None:
    from smart_tuner.search.budget import budget_of
    from smart_tuner.search.output import log_to_mlflow
    from smart_tuner.search.table import trials_table

    trials = study.get_trials(deepcopy=False)
    best = next((t for t in trials if t.number == out.best_trial), None)
    title = f"{spec.study_name}: {spec.n_trials} trials requested"
    console.print(trials_table(trials, title, best, objective=out.objective))
    for note in out.notes:
        console.print(f"[yellow]{note}[/yellow]")
    if out.best_config is not None:
        console.print(
            f"Best: trial {out.best_trial}, {out.objective} {out.best_value:.4f} - parameters "
            f"written to {out.best_config} (smart-tuner train DATASET --config {out.best_config})"
        )
    if out.importances:
        ranked = ", ".join(f"{k} {v:.2f}" for k, v in out.importances.items())
        console.print(f"Parameter importances: {ranked}")
    console.print("Files: " + ", ".join(str(p) for p in out.files))
    if log_to_mlflow(spec.base_config(), spec.parent_run_id, out):
        console.print("MLflow: the study's results are on its parent run (trials nested).")
    if spec.parent_run_id:
        from smart_tuner.track.mlflow_tracker import end_parent_run

        end_parent_run(config, spec.parent_run_id, "KILLED" if interrupted else "FINISHED")
    if interrupted:
        done = budget_of(trials, spec.n_trials).finished
        console.print(f"Re-run the same command to continue ({done} trials done).")


def _grace_words(settings: SearchSettings) -> str:
    if settings.alignment_grace == "fixed":
        return f"epoch {settings.alignment_grace_epochs}"
    return (
        f"where this study's trials formed attention, + {settings.attention_window} epochs, "
        f"not before epoch {settings.alignment_grace_epochs}; none until one has formed"
    )
