"""The `analyze` command: it chains analysis/ and pipeline.py, so it sits above them.

    smart-tuner analyze DATASET [--json PATH] [--plots DIR] [--write-filelist PATH]
                                [--config FILE] [--workers N] [--no-cache]

Wiring in cli.py:

    from smart_tuner import analyze_command
    p = sub.add_parser("analyze", help="dataset analysis and epoch recommendation")
    analyze_command.add_arguments(p)
    p.set_defaults(func=lambda args: analyze_command.run(args, console))

CorpusError and ConfigError propagate, so cli's `run_command` reports them as for `train`.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from smart_tuner.analysis.report import filelist_inside, print_report, write_filelist
from smart_tuner.resolve import config_for, dataset_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset",
        nargs="?",
        help="LJSpeech-style folder or path|text filelist (default: data.dataset_path, "
        "else the embedded English demo corpus)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the profile and plan as JSON")
    parser.add_argument("--plots", metavar="DIR", help="write PNG histograms into DIR")
    parser.add_argument(
        "--write-filelist",
        metavar="PATH",
        help="write a cleaned 'path|text' filelist (files with a 'drop' problem left out)",
    )
    parser.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    parser.add_argument("--workers", type=int, help="parallel processes (default: CPU cores)")
    parser.add_argument(
        "--no-cache", action="store_true", help="analyse every file again, ignoring the cache"
    )


def plan_payload(plan: Any) -> dict[str, Any]:
    """The recommendation's keys in the --json document."""
    return {
        "recommended_epochs": plan.epochs,
        "confidence": plan.confidence,
        "rationale": [plan.headline, *plan.rationale],
        "recommendation": plan.to_dict(),
    }


def run(args: argparse.Namespace, console: Console) -> int:
    from smart_tuner.pipeline import recommend_for

    config = config_for(getattr(args, "config", None))
    dataset = dataset_for(getattr(args, "dataset", None), config, console, "analysing")
    recommendation = recommend_for(
        dataset,
        config,
        console,
        workers=getattr(args, "workers", None),
        use_cache=not getattr(args, "no_cache", False),
    )
    profile, plan = recommendation.profile, recommendation.plan
    print_report(profile, plan, console)
    if getattr(args, "json", None):
        path = profile.write_json(args.json, plan_payload(plan))
        console.print(f"Wrote {path}")
    if getattr(args, "plots", None):
        from smart_tuner.analysis.plots import write_plots

        written = write_plots(profile, args.plots)
        console.print(f"Wrote {len(written)} plots to {args.plots}")
    if getattr(args, "write_filelist", None):
        path, kept, dropped = write_filelist(profile, args.write_filelist)
        console.print(f"Wrote {path}: {kept} utterances kept, {dropped} left out")
        if not filelist_inside(profile, path):
            console.print(
                "[yellow]Note: the audio lies outside the filelist's folder, so its paths are "
                "absolute; `train` only reads audio inside a filelist's folder, so place the "
                "filelist in the dataset folder (or a folder above it) to train on it.[/yellow]"
            )
    return 0
