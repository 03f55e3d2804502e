"""A run folder read back as plain data: what the report shows, nothing computed yet.

A run folder holds metrics.jsonl (the event stream), summary.json, config.yaml, plots/,
samples/, checkpoints/; `train` and `auto` add analysis.json (the dataset profile and the
recommendation, written by `save_analysis`), an evaluation writes evaluation.json, a search
leaves study.json. Every piece is optional: a report of a half-finished run says what is
missing instead of failing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smart_tuner.events import read_records

ANALYSIS_FILE = "analysis.json"
EVALUATION_FILES = ("evaluation.json", "evaluation/evaluation.json")
STUDY_FILES = ("study.json", "study/study.json", "search/study.json")
_EPOCH = re.compile(r"_e(\d+)")


class ReportError(Exception):
    """The folder is not something a report can be made of; printed without a traceback."""


@dataclass
class RunData:
    run_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)  # epoch_ended
    decisions: list[dict[str, Any]] = field(default_factory=list)  # decision events
    started: dict[str, Any] = field(default_factory=dict)  # the last run_started params
    summary: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    evaluation_dir: Path | None = None
    study: dict[str, Any] | None = None
    alignments: dict[int, Path] = field(default_factory=dict)  # epoch -> PNG
    samples: dict[int, Path] = field(default_factory=dict)  # epoch -> WAV

    @property
    def phases(self) -> list[dict[str, Any]]:
        return list((self.summary or {}).get("phase_history") or [])


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _first_json(run_dir: Path, names: tuple[str, ...]) -> tuple[dict[str, Any] | None, Path | None]:
    for name in names:
        data = _json(run_dir / name)
        if data is not None:
            return data, (run_dir / name).parent
    return None, None


def _by_epoch(paths: list[Path]) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for path in sorted(paths):
        match = _EPOCH.search(path.name)
        if match:
            found.setdefault(int(match.group(1)), path)
    return found


def load_run(run_dir: str | Path) -> RunData:
    """Everything the report needs from a run folder; ReportError when it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a folder")
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file() and not (run_dir / ANALYSIS_FILE).is_file():
        raise ReportError(
            f"{run_dir} is not a run folder: it holds neither metrics.jsonl nor {ANALYSIS_FILE}"
        )
    events = read_records(metrics, kind=None)
    data = RunData(run_dir=run_dir)
    data.records = [e for e in events if e.get("event") == "epoch_ended"]
    data.decisions = [e for e in events if e.get("event") == "decision"]
    for event in events:
        if event.get("event") == "run_started":
            data.started = dict(event.get("params") or {})
    data.summary = _json(run_dir / "summary.json")
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        data.config = loaded if isinstance(loaded, dict) else {}
    data.analysis = _json(run_dir / ANALYSIS_FILE)
    data.evaluation, data.evaluation_dir = _first_json(run_dir, EVALUATION_FILES)
    data.study, _ = _first_json(run_dir, STUDY_FILES)
    teacher_forced = _by_epoch(list((run_dir / "plots").glob("alignment_e*.png")))
    spoken = _by_epoch(list((run_dir / "samples").glob("validation_e*.alignment.png")))
    data.alignments = {**spoken, **teacher_forced}  # teacher-forced first where both exist
    latest = run_dir / "plots" / "alignment_latest.png"
    if latest.is_file() and data.records:
        data.alignments.setdefault(int(data.records[-1]["epoch"]), latest)
    data.samples = _by_epoch(list((run_dir / "samples").glob("validation_e*.wav")))
    return data


def save_analysis(run_dir: str | Path, recommendation: Any, config: Any = None) -> Path:
    """Write the dataset profile and the recommendation into the run folder (analysis.json).

    `recommendation` is `smart_tuner.pipeline.Recommendation`; with the `config`, the history's
    correction is read again to name the past runs that moved the count.
    """
    correction = None
    if config is not None:
        from smart_tuner.history_learning import profile_features_of
        from smart_tuner.track import epoch_correction

        correction = epoch_correction(config, profile_features_of(recommendation.profile))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "profile": recommendation.profile.to_dict(),
        "plan": recommendation.plan.to_dict(),
        "headline": getattr(recommendation.plan, "headline", ""),
        "history": correction.to_dict() if correction is not None else None,
    }
    path = run_dir / ANALYSIS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
