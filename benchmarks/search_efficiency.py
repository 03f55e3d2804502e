"""Does the TTS-aware search find good parameters with fewer trial-epochs?

    .venv/bin/python benchmarks/search_efficiency.py                 # demo corpus, small preset
    .venv/bin/python benchmarks/search_efficiency.py --tiny          # minutes: tiny model/corpus
    .venv/bin/python benchmarks/search_efficiency.py --work runs/search_bench   # resumable
    .venv/bin/python benchmarks/search_efficiency.py --jobs 2 ...    # two searches at a time

Three searches, each with the same budget of trial-epochs (the sum of epochs trained over all
trials) and the same seeds:

* tts:    TPE (multivariate, constant liar) + successive halving on validation loss + the TTS
          rule (no loss pruning before the alignment grace point, attention must have formed
          from it on), the grace point learned from the study (`search.alignment_grace:
          study`: where its finished trials formed attention, + attention_window, not before
          --grace; none until one has formed), as `optimize` runs by default;
* tts_fixed (only with --methods): tts with the grace point fixed at --grace;
* tpe:    the same TPE, no pruning;
* random: random search, no pruning;
* tts_median (only with --methods): tts with Optuna's median rule as its loss rule.

Per search and seed: the best validation loss of a finished trial whose attention formed (the
search's answer, as `optimize` chooses it: teacher-forced loss does not need attention, and in
seed 0 random search's lowest loss was a trial that never aligned), the lowest of any trial
beside it, the free-running mel_quality (MCD-DTW, dB) of the chosen trial's model on held-out
sentences, and the trial-epochs spent until such a trial first reached plain TPE's best of the
same seed ("-" if never), and
until one came within 0.5% of it (the exact best is one trial's; near-ties are common). The
target: the same best loss with at most half the trial-epochs.

Trial-epochs are a fair currency only if every epoch costs the same time, so the batch size is
held at the config's `training.batch_size` (its only choice) (--search-batch-size searches it:
an epoch of batch 8 takes about twice as long as one of 32 on a CPU). With --jobs N, N searches
run at once, each trial on cores/N threads; the measures are counted in epochs, not seconds, so
they do not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smart_tuner.config import Config, load_config  # noqa: E402
from smart_tuner.search.budget import counts_toward_budget, retried_numbers  # noqa: E402
from smart_tuner.search.selection import attention_formed  # noqa: E402
from smart_tuner.search.study import StudySpec, open_study  # noqa: E402
from smart_tuner.search.worker import run_worker  # noqa: E402

MIN_ATTENTION = 0.3  # search.min_attention_score: a trial ending below it never aligned
NEAR = 0.005  # "within 0.5% of plain TPE's best": two of its trials differed by 0.3% (seed 0)
METHODS = {
    "tts": {"sampler": "tpe", "pruning": "tts"},
    "tts_fixed": {"sampler": "tpe", "pruning": "tts", "alignment_grace": "fixed"},
    "tts_median": {"sampler": "tpe", "pruning": "tts", "loss_pruner": "median"},
    "tpe": {"sampler": "tpe", "pruning": "none"},
    "random": {"sampler": "random", "pruning": "none"},
}


def base_config(args: argparse.Namespace, work: Path) -> tuple[Config, Path]:
    if args.tiny:
        from tests.helpers import make_corpus, tiny_config

        corpus = work / "corpus"
        if not (corpus / "metadata.csv").exists():  # a resumed benchmark keeps its corpus
            make_corpus(corpus, n=12)
        return tiny_config(work / "cache"), corpus
    config = load_config(args.config, {"model.preset": "small"})
    if not args.search_batch_size:  # one choice: the config's own batch size
        space = config.hyperparameter_search_space
        fixed = space.batch_size.model_copy(update={"choices": [config.training.batch_size]})
        space = space.model_copy(update={"batch_size": fixed})
        config = config.model_copy(update={"hyperparameter_search_space": space})
    return config, Path(args.dataset)


def run_search(
    config: Config, dataset: Path, work: Path, method: str, seed: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Trials one at a time until the trial-epoch budget is spent; each trial's outcome."""
    settings = config.search.model_copy(
        update={
            **METHODS[method],
            "seed": seed,
            "trial_epochs": args.trial_epochs,
            "alignment_grace_epochs": args.grace,
        }
    )
    update: dict[str, Any] = {"search": settings}
    if args.jobs > 1 and config.training.num_threads is None:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        update["training"] = config.training.model_copy(update={"num_threads": threads})
    config = config.model_copy(update=update)
    name = f"{method}-{seed}"
    spec = StudySpec(
        study_name=name,
        storage_url=f"sqlite:///{work / 'bench.db'}",
        study_dir=str(work / name),
        dataset=str(dataset),
        config=config.model_dump(mode="json"),
        n_trials=1,
        track=False,
    )
    study = open_study(spec)
    trials = counted(study.trials)
    while sum(t["epochs"] for t in trials) < args.budget and len(trials) < 4 * args.budget:
        spec = StudySpec(**{**spec.__dict__, "n_trials": len(trials) + 1})
        run_worker(spec)
        trials = counted(study.trials)
    return trials


def counted(study_trials: list[Any]) -> list[dict[str, Any]]:
    """The finished trials, in order. A trial cut short by an interruption of the benchmark
    (its worker killed, then failed and re-queued by the heartbeat check) spends nothing: its
    retry runs in full."""
    retried = retried_numbers(study_trials)
    return [
        {
            "state": t.state.name,
            "value": t.value if t.state.name == "COMPLETE" else None,
            "epochs": int(t.user_attrs.get("epochs") or 0),
            "aligned": attention_formed(t, MIN_ATTENTION) is not False,
            "mel_quality": _mel_quality(t.user_attrs.get("run_dir")),
        }
        for t in study_trials
        if counts_toward_budget(t, retried) and t.state.is_finished()
    ]


def _mel_quality(run_dir: str | None) -> float | None:
    """The trial's last free-running mel_quality (MCD-DTW, dB, held-out sentences), which its
    quality monitor measured at the end: what the chosen model's speech is like."""
    path = Path(run_dir or "") / "metrics.jsonl"
    if not run_dir or not path.is_file():
        return None
    values = [
        event["mel_quality"]
        for event in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if event.get("event") == "quality_measured" and event.get("mel_quality") is not None
    ]
    return float(values[-1]) if values else None


def _timed_search(job: tuple) -> tuple[tuple[str, int], list[dict[str, Any]], float]:
    config, dataset, work, method, seed, args = job
    started = time.monotonic()
    trials = run_search(config, dataset, work, method, seed, args)
    return (method, seed), trials, time.monotonic() - started


def _said(console: Console, key: tuple[str, int], trials: list[dict[str, Any]], s: float) -> None:
    method, seed = key
    console.print(
        f"{method} seed {seed}: {len(trials)} trials, best {best_of(trials):.4f} ({s:.0f} s)"
    )


def best_of(trials: list[dict[str, Any]], aligned: bool = True) -> float:
    """The search's answer (the lowest value of a trial whose attention formed, as `optimize`
    chooses it), or with aligned=False the lowest value of any."""
    values = [
        t["value"] for t in trials if t["value"] is not None and (t["aligned"] or not aligned)
    ]
    return min(values) if values else math.inf


def _shown(value: float) -> str:
    """A value for the table; "-" where no trial has one yet (best_of's inf)."""
    return f"{value:.4f}" if math.isfinite(value) else "-"


def quality_of_best(trials: list[dict[str, Any]]) -> str:
    best = best_of(trials)
    chosen = [t for t in trials if t["value"] == best and t["aligned"]]
    quality = chosen[0]["mel_quality"] if chosen else None
    return "-" if quality is None else f"{quality:.2f}"


def epochs_to_reach(trials: list[dict[str, Any]], target: float) -> int | None:
    spent = 0
    for t in trials:
        spent += t["epochs"]
        if t["value"] is not None and t["aligned"] and t["value"] <= target + 1e-9:
            return spent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", default=str(ROOT / "smart_tuner/demo_corpus/en"))
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--tiny", action="store_true", help="tiny model and synthetic corpus")
    parser.add_argument("--budget", type=int, default=150, help="trial-epochs per search")
    parser.add_argument("--trial-epochs", type=int, default=30)
    parser.add_argument(
        "--grace",
        type=int,
        default=20,
        help="alignment grace point (epoch; tts_fixed judges attention there, tts not before)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run are FIRST..FIRST+SEEDS-1 (to add seeds to a table in pieces)",
    )
    parser.add_argument("--methods", default="tts,tpe,random")
    parser.add_argument("--jobs", type=int, default=1, help="searches run at once")
    parser.add_argument(
        "--search-batch-size",
        action="store_true",
        help="search the batch size too (trial-epochs then differ in cost)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the studies here (default: a temporary folder); the same command with the "
        "same --work continues an interrupted benchmark where it stopped",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the table of what the studies in --work hold now (finished and unfinished "
        "searches alike), training nothing",
    )
    args = parser.parse_args()
    if args.table_only and args.work is None:
        parser.error("--table-only needs --work")
    console = Console(width=max(150, Console().width))
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            work = args.work.resolve()
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="search_bench_")))
        config, dataset = base_config(args, work)
        searches = [
            (m, seed)
            for seed in range(args.first_seed, args.first_seed + args.seeds)
            for m in args.methods.split(",")
        ]
        jobs = [(config, dataset, work, method, seed, args) for method, seed in searches]
        if args.table_only:
            storage = f"sqlite:///{work / 'bench.db'}"
            held = {s.study_name for s in optuna.get_all_study_summaries(storage)}
            searches = [key for key in searches if f"{key[0]}-{key[1]}" in held]
            for method, seed in searches:
                study = optuna.load_study(study_name=f"{method}-{seed}", storage=storage)
                results[(method, seed)] = counted(study.trials)
        elif args.jobs > 1:
            # not multiprocessing.Pool: its workers are daemons, which may not start the
            # trials' own processes
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(args.jobs, context, max_tasks_per_child=1) as pool:
                for done in as_completed([pool.submit(_timed_search, job) for job in jobs]):
                    key, trials, seconds = done.result()
                    results[key] = trials
                    _said(console, key, trials, seconds)
        else:
            for job in jobs:
                key, trials, seconds = _timed_search(job)
                results[key] = trials
                _said(console, key, trials, seconds)
        results = {key: results[key] for key in searches}  # the table in a stable order
    table = Table(
        title=f"search efficiency: budget {args.budget} trial-epochs, {args.trial_epochs} epochs "
        f"per trial, grace point {args.grace} (tts: from the study, not before), "
        f"{'tiny' if args.tiny else Path(dataset).name}, "
        + (
            "batch size searched"
            if args.search_batch_size
            else f"batch size {config.training.batch_size}"
        )
    )
    columns = ("search", "seed", "trials", "trial-epochs", "pruned", "best val_loss")
    columns += ("lowest, any attention",)
    columns += ("its mel_quality dB", "epochs to tpe best", f"epochs to within {NEAR:.1%}")
    for column in columns:
        table.add_column(column)
    for (method, seed), trials in results.items():
        if not trials:  # --table-only: started, nothing finished yet
            table.add_row(method, str(seed), *["-"] * (len(columns) - 2))
            continue
        plain = results.get(("tpe", seed))  # None: not started yet (--table-only)
        target = best_of(plain) if plain else math.nan
        reach = epochs_to_reach(trials, target)
        near = epochs_to_reach(trials, target * (1 + NEAR))
        table.add_row(
            method,
            str(seed),
            str(len(trials)),
            str(sum(t["epochs"] for t in trials)),
            str(sum(t["state"] == "PRUNED" for t in trials)),
            _shown(best_of(trials)),
            _shown(best_of(trials, aligned=False)),
            quality_of_best(trials),
            "-" if reach is None else str(reach),
            "-" if near is None else str(near),
        )
    console.print(table)
    console.print(f"wall time {(time.monotonic() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
