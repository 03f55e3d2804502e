"""The `report` command, and the report `train` and `auto` write when they finish.

smart-tuner report RUN_DIR [--out report.html] [--dataset DATASET]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from smart_tuner.report.run_data import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder (from train, demo or auto)")
    parser.add_argument("--out", help="the HTML file (default RUN_DIR/report.html)")
    parser.add_argument(
        "--dataset",
        help="analyse this corpus for the dataset section when the run saved no analysis.json",
    )


def run(args: argparse.Namespace, console: Console) -> int:
    from smart_tuner.report.render import write_report

    try:
        path = write_report(args.run_dir, args.out, dataset=args.dataset, console=console)
    except ReportError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        return 1
    console.print(f"Report: {path} (one file; open it in any browser)")
    return 0


def report_after_run(run_dir: Path, console: Console) -> Path | None:
    """The report at the end of a run; a failure is reported, never raised (the run is done)."""
    from smart_tuner.report.render import write_report

    try:
        path = write_report(run_dir, console=console)
    except Exception as exc:  # the model is trained; a broken page must not fail the command
        console.print(f"[yellow]No report written: {exc}[/yellow]")
        return None
    console.print(f"Report: {path}")
    return path
