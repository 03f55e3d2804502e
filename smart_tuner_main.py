#!/usr/bin/env python3
"""The user's original interface (Smart Tuner V2), kept working.

    python smart_tuner_main.py --mode auto --trials 10
    python smart_tuner_main.py --mode train --epochs 2500 --batch_size 32
    python smart_tuner_main.py --mode optimize --trials 20

Each mode maps onto a `smart-tuner` command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Smart Tuner V2 (compatibility entry point)")
    parser.add_argument("--mode", choices=["auto", "train", "optimize"], default="auto")
    parser.add_argument("--trials", type=int, default=None, help="hyperparameter trials")
    parser.add_argument("--epochs", type=int, default=None, help="override the recommendation")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=None)
    parser.add_argument("--config", default=None, help="config.yaml")
    parser.add_argument("--dataset", default=None, help="corpus folder or filelist")
    parser.add_argument("--out", default=None, help="run folder")
    parser.add_argument("--max-minutes", type=float, default=None)
    return parser


def to_command(args: argparse.Namespace) -> list[str]:
    """Translate the legacy flags into `smart-tuner` arguments."""
    argv = [args.mode]
    if args.mode == "train" and args.dataset:
        argv.append(args.dataset)
    elif args.dataset:
        argv += ["--dataset", args.dataset]
    options = {
        "--trials": args.trials if args.mode != "train" else None,
        "--epochs": args.epochs,
        "--batch-size": args.batch_size,
        "--config": args.config,
        "--out": args.out,
        "--max-minutes": args.max_minutes,
    }
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(value)]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    from smart_tuner.cli import main as cli_main

    return cli_main(to_command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
