"""`auto`: analyse -> recommend epochs -> search -> full training -> evaluate -> report.

Each stage's result is saved in DIR (auto/record.py), so the same command run again after an
interruption skips what is done and resumes the stage it reached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from smart_tuner.auto import stages
from smart_tuner.auto.budget import split_budget
from smart_tuner.auto.record import STAGES, AutoRecord, StageResult
from smart_tuner.config import Config


def _available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run_auto(
    dataset: Path,
    out: Path,
    config: Config,
    console: Console,
    *,
    trials: int = 10,
    max_minutes: float | None = None,
    storage: str | None = None,
) -> dict[str, Any]:
    """The whole pipeline; returns the top-level summary (also DIR/summary.json)."""
    out.mkdir(parents=True, exist_ok=True)
    record = AutoRecord(out)
    budget = split_budget(
        max_minutes,
        trials,
        search=_available("smart_tuner.search.command"),
        evaluation=_available("smart_tuner.evaluate.command"),
    )
    ctx = stages.AutoContext(dataset, out, config, console, trials, storage, budget)
    header = {"dataset": str(dataset), "trials": trials, "budget": budget.to_dict()}
    print_plan(ctx, record)

    def stage(name: str, work: Callable[[], StageResult]) -> StageResult:
        """Run one stage unless a previous run finished it; record what it chose."""
        done = record.get(name)
        if done is None:
            number = STAGES.index(name) + 1
            console.rule(f"[bold]Stage {number}/{len(STAGES)}: {name}[/bold]")
            started = time.monotonic()
            try:
                done = work()
            except BaseException:  # Ctrl-C or a failure: its time still counts on a re-run
                record.add_partial(name, time.monotonic() - started)
                raise
            done.wall_seconds = record.partial(name) + time.monotonic() - started
            record.finish(name, done)
            record.write_summary(header)
            console.print(f"[green]{name}[/green] {done.status}: {done.why}", highlight=False)
        ctx.spent_seconds += done.wall_seconds
        return done

    analysis = stage("analyse", lambda: stages.analyse(ctx))
    epochs, run_params = analysis.chose["epochs"], analysis.chose["run_params"]
    found = stage("search", lambda: stages.search(ctx, epochs))
    params = found.chose.get("params", {})
    stage("train", lambda: stages.train_full(ctx, epochs, params, run_params))
    stage("evaluate", lambda: stages.evaluate(ctx))
    stage("report", lambda: stages.report(ctx))
    summary_path = record.write_summary(header)
    print_outcome(record, console)
    console.print(f"Summary: {summary_path}   Report: {out / 'report.html'}")
    return json.loads(summary_path.read_text(encoding="utf-8"))


def print_plan(ctx: stages.AutoContext, record: AutoRecord) -> None:
    table = Table(title=f"auto: {ctx.dataset} -> {ctx.out}", show_header=True)
    table.add_column("stage")
    table.add_column("state")
    for name in STAGES:
        done = record.get(name)
        table.add_row(name, f"{done.status} earlier" if done else "to do")
    ctx.console.print(table)
    for line in ctx.budget.describe():
        ctx.console.print(line, highlight=False)


def print_outcome(record: AutoRecord, console: Console) -> None:
    table = Table(title="auto: what each stage chose")
    for column in ("stage", "status", "minutes", "why"):
        table.add_column(column)
    for name in STAGES:
        done = record.get(name)
        if done:
            table.add_row(name, done.status, f"{done.wall_seconds / 60:.1f}", done.why)
    console.print(table)
