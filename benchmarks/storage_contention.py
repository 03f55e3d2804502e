"""Which local study storage holds up under several workers: SQLite (our settings) or Optuna's
JournalStorage on a file?

    .venv/bin/python benchmarks/storage_contention.py [--workers 4]
        [--trials 40] [--epochs 30]

Each backend gets the same load: `--workers` processes share one study, each asks for trials
until the study has `--trials`, and every trial reports `--epochs` intermediate values and
asks the pruner after each (what a search worker does per epoch, without the training). It
prints the wall time, storage operations per second, how many trials the study ends with,
errors (e.g. "database is locked"), and whether the backend has heartbeats, which the search
needs to fail and retry the trial of a killed worker.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.config import SearchSettings  # noqa: E402
from smart_tuner.search.storage import open_storage  # noqa: E402


def storage_for(backend: str, folder: Path) -> optuna.storages.BaseStorage:
    if backend == "sqlite":
        return open_storage(f"sqlite:///{folder / 'optuna.db'}", SearchSettings())
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(folder / "journal.log")))


def worker(backend: str, folder: str, trials: int, epochs: int, errors: mp.Queue) -> None:
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="load", storage=storage_for(backend, Path(folder)))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        for epoch in range(epochs):
            trial.report(x * x + 1.0 / (epoch + 1), epoch)
            trial.should_prune()
        return x * x

    while len(study.get_trials(deepcopy=False)) < trials:
        try:
            study.optimize(objective, n_trials=1)
        except Exception as exc:  # what a storage under contention throws
            errors.put(f"{type(exc).__name__}: {str(exc)[:80]}")


def measure(backend: str, workers: int, trials: int, epochs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"storage-{backend}-") as folder:
        storage = storage_for(backend, Path(folder))
        optuna.create_study(study_name="load", storage=storage)
        ctx = mp.get_context("spawn")
        errors: mp.Queue = ctx.Queue()
        procs = [
            ctx.Process(target=worker, args=(backend, folder, trials, epochs, errors))
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name="load", storage=storage_for(backend, Path(folder)))
        done = study.get_trials(deepcopy=False)
        seen = []
        while not errors.empty():
            seen.append(errors.get())
        ops = len(done) * (2 * epochs + 3)  # report + should_prune per epoch; ask, params, tell
        return {
            "wall": wall,
            "ops_per_s": ops / wall,
            "trials": len(done),
            "complete": sum(t.state == optuna.trial.TrialState.COMPLETE for t in done),
            "errors": seen,
            "heartbeat": isinstance(storage, BaseHeartbeat),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    table = Table(
        title=f"{args.workers} workers, {args.trials} trials x {args.epochs} reported epochs"
    )
    for column in ("storage", "wall s", "ops/s", "trials", "complete", "errors", "heartbeats"):
        table.add_column(column)
    for backend in ("sqlite", "journal"):
        r = measure(backend, args.workers, args.trials, args.epochs)
        errors = r["errors"]
        assert isinstance(errors, list)
        table.add_row(
            "SQLite (WAL, busy timeout)" if backend == "sqlite" else "JournalStorage (file)",
            f"{r['wall']:.1f}",
            f"{r['ops_per_s']:.0f}",
            str(r["trials"]),
            str(r["complete"]),
            f"{len(errors)}" + (f" ({errors[0]})" if errors else ""),
            "yes" if r["heartbeat"] else "no",
        )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
