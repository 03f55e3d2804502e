"""When does attention form in a search's trials, against their learning rate?

    .venv/bin/python benchmarks/alignment_onset.py runs/search_bench
    .venv/bin/python benchmarks/alignment_onset.py runs/search_bench --studies tpe-0,tpe-1

The search's pruning rule judges attention at a grace point counted in optimizer updates
(`search.alignment_grace_epochs` at the config's batch size). Whether that point is fair to a
trial depends on how fast its attention forms, which the learning rate may set as much as the
number of updates. This reads every trial that trained (the run folders of the benchmark's
studies; each point once: a killed trial and its retry, and the same point in several
studies, as the searches of one seed start from the same sampled point) and prints, per
point, the epoch its attention formed for good by the pruning rule's own test (the mean
attention_score of the last `--window` epochs at least `--min-score` from then on), and that
epoch times the learning rate; then the same by learning-rate band. It costs no training.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import optuna
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.events import read_records  # noqa: E402
from smart_tuner.search.pruning import PruningPolicy  # noqa: E402

BANDS = (0.0, 2e-4, 3e-4, 4.5e-4, 8e-4, 1.5e-3, math.inf)


@dataclass(frozen=True)
class Onset:
    study: str
    trial: int
    learning_rate: float
    params: str
    epochs: int  # epochs the trial trained
    formed: int | None  # the first epoch attention counted as formed; None: not by `epochs`
    best_val_loss: float


def formed_at(scores: list[float], window: int, min_score: float) -> int | None:
    """The epoch from which the mean of the last `window` attention scores stays at least
    `min_score` to the trial's end, as the pruning rule sees it (`PruningPolicy.onset`, what a
    trial tells its study): before attention forms the score wanders (0.14-0.36 on the demo
    corpus), so the first epoch over the line is often a lucky one."""
    policy = PruningPolicy(mode="none", attention_window=window, min_attention_score=min_score)
    for epoch, score in enumerate(scores, start=1):
        policy.recall(epoch, {"attention_score": score})
    return policy.onset


def onsets(storage: str, names: list[str], window: int, min_score: float) -> list[Onset]:
    found: dict[tuple, Onset] = {}  # by parameters: training is deterministic
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        for trial in study.get_trials(deepcopy=False):
            run_dir = trial.user_attrs.get("run_dir")
            lr = trial.params.get("learning_rate")
            if not run_dir or lr is None or not (Path(run_dir) / "metrics.jsonl").exists():
                continue
            records = read_records(Path(run_dir) / "metrics.jsonl")
            records = sorted({int(r["epoch"]): r for r in records}.values(), key=_epoch)
            if not records:
                continue
            scores = [float(r.get("attention_score", 0.0)) for r in records]
            onset = Onset(
                study=name,
                trial=trial.number,
                learning_rate=float(lr),
                params=f"ga {trial.params.get('guided_attention_weight', 0):.1f} "
                f"r {trial.params.get('n_frames_per_step', '-')}",
                epochs=len(records),
                formed=formed_at(scores, window, min_score),
                best_val_loss=min(float(r.get("val_loss", math.inf)) for r in records),
            )
            point = tuple(sorted(trial.params.items()))
            kept = found.get(point)
            if kept is None or onset.epochs > kept.epochs:
                found[point] = onset
    return sorted(found.values(), key=lambda o: o.learning_rate)


def _epoch(record: dict) -> int:
    return int(record["epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="the search benchmark's --work folder")
    parser.add_argument("--studies", help="comma-separated (default: all)")
    parser.add_argument("--window", type=int, default=3, help="search.attention_window")
    parser.add_argument("--min-score", type=float, default=0.3, help="search.min_attention_score")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(args.work / 'bench.db').resolve()}"
    names = (
        args.studies.split(",")
        if args.studies
        else sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    )
    found = onsets(storage, names, args.window, args.min_score)
    console = Console(width=max(110, Console().width))
    trials = Table(title=f"attention onset per point searched ({len(found)} points trained)")
    for column in (
        "study",
        "trial",
        "learning rate",
        "params",
        "epochs",
        "formed at",
        "lr x epoch",
        "best val_loss",
    ):
        trials.add_column(column)
    for o in found:
        trials.add_row(
            o.study,
            str(o.trial),
            f"{o.learning_rate:.2e}",
            o.params,
            str(o.epochs),
            str(o.formed) if o.formed else f"not by {o.epochs}",
            f"{o.learning_rate * o.formed:.1e}" if o.formed else "-",
            f"{o.best_val_loss:.3f}",
        )
    console.print(trials)
    bands = Table(title="by learning rate")
    for column in ("learning rate", "trials", "formed", "median epoch formed", "not formed by"):
        bands.add_column(column)
    for low, high in zip(BANDS, BANDS[1:], strict=False):
        group = [o for o in found if low <= o.learning_rate < high]
        if not group:
            continue
        formed = [o.formed for o in group if o.formed]
        never = sorted(o.epochs for o in group if not o.formed)
        bands.add_row(
            f"{low:.1e} - {high:.1e}" if math.isfinite(high) else f">= {low:.1e}",
            str(len(group)),
            str(len(formed)),
            f"{statistics.median(formed):g}" if formed else "-",
            ", ".join(map(str, never)) or "-",
        )
    console.print(bands)


if __name__ == "__main__":
    main()
