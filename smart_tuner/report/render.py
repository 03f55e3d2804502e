"""Render a run folder into one self-contained HTML page (Jinja2 template, data-URI media)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from rich.console import Console

from smart_tuner import __version__
from smart_tuner.report.result import result_section
from smart_tuner.report.run_data import ANALYSIS_FILE, load_run, save_analysis
from smart_tuner.report.sections import (
    dataset_section,
    recommendation_section,
    search_section,
    training_section,
)

REPORT_FILE = "report.html"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("smart_tuner.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def analyse_into(run_dir: Path, dataset: Path, console: Console) -> None:
    """Analyse `dataset` with the run's own settings and save it as the run's analysis.json."""
    from smart_tuner.config import load_config
    from smart_tuner.pipeline import recommend_for

    config_path = run_dir / "config.yaml"
    config = load_config(config_path if config_path.is_file() else None)
    save_analysis(run_dir, recommend_for(dataset, config, console), config)


def build_context(run_dir: Path) -> dict[str, Any]:
    run = load_run(run_dir)
    summary = run.summary or {}
    return {
        "title": f"Smart Tuner report: {run_dir.resolve().name}",
        "run_dir": str(run_dir.resolve()),
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "version": __version__,
        "headline": summary.get("stop_reason"),
        "dataset": dataset_section(run),
        "recommendation": recommendation_section(run),
        "search": search_section(run),
        "training": training_section(run),
        "result": result_section(run),
    }


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    console: Console | None = None,
) -> Path:
    """Write RUN_DIR/report.html (or `out`); with `dataset`, analyse it first when the run
    has no analysis.json. Raises ReportError when RUN_DIR is not a run folder."""
    run_dir = Path(run_dir)
    console = console or Console(quiet=True)
    load_run(run_dir)  # fail early, before a possibly long analysis
    if dataset is not None and not (run_dir / ANALYSIS_FILE).is_file():
        analyse_into(run_dir, Path(dataset), console)
    html = _environment().get_template("report.html.j2").render(**build_context(run_dir))
    target = Path(out) if out else run_dir / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target
