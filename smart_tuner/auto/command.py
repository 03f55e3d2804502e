"""The `auto` command.

smart-tuner auto [DATASET] --out DIR [--trials N] [--max-minutes M] [--storage URL]
python smart_tuner_main.py --mode auto --trials 10      (the legacy form)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

DEMO_AUTO_MINUTES = 30.0  # on the embedded corpus: the demo's 20 min of training, plus search


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset", nargs="?", help="LJSpeech-style folder or path|text filelist (default: demo)"
    )
    parser.add_argument("--dataset", dest="dataset_option", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", help="output folder; the same command resumes it (default runs/auto-DATASETNAME)"
    )
    parser.add_argument("--trials", type=int, default=10, help="search trials (0: no search)")
    parser.add_argument("--max-minutes", type=float, help="wall budget for the whole pipeline")
    parser.add_argument("--storage", help="Optuna storage URL (default DIR/search/study.db)")
    parser.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    parser.add_argument("--epochs", type=int, help="override the recommendation")
    parser.add_argument("--batch-size", type=int)


def run(args: argparse.Namespace, console: Console) -> int:
    from smart_tuner.auto.pipeline import run_auto
    from smart_tuner.exit_codes import UserError
    from smart_tuner.resolve import config_for, dataset_for, is_demo_corpus

    if args.trials < 0:
        raise UserError(f"--trials must be 0 or more, got {args.trials}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError(f"--max-minutes must be above 0, got {args.max_minutes:g}")
    given = args.dataset or args.dataset_option
    overrides = {"training.epochs": args.epochs, "training.batch_size": args.batch_size}
    config = config_for(args.config, overrides)
    dataset = dataset_for(given, config, console)
    if not dataset.exists():
        raise UserError(f"{dataset}: no such dataset folder or filelist")
    max_minutes = args.max_minutes
    if is_demo_corpus(dataset):
        # The demo recipe: the small preset a CPU trains in minutes, and a budget.
        # Loaded again with the preset among the overrides: the preset fills in the model's
        # sizes only where nothing else set them (a dumped config sets them all).
        config = config_for(args.config, {**overrides, "model.preset": "small"})
        if max_minutes is None:
            max_minutes = DEMO_AUTO_MINUTES
        console.print(
            f"Demo recipe: the `small` preset, {max_minutes:g} minutes in all (--max-minutes)."
        )
    out = Path(args.out) if args.out else Path("runs") / f"auto-{dataset.resolve().name}"
    run_auto(
        dataset,
        out,
        config,
        console,
        trials=args.trials,
        max_minutes=max_minutes,
        storage=args.storage,
    )
    return 0
