"""The report's sections as plain dictionaries for the template: one builder per section.

A builder returns {"available": False, "missing": "<why>"} when its data is absent, so the page
says so plainly instead of showing an empty box.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from smart_tuner.report import figures
from smart_tuner.report.run_data import RunData

MAX_PROBLEMS = 40
QUIET_ACTIONS = {"report", "continue"}


def _missing(why: str) -> dict[str, Any]:
    return {"available": False, "missing": why}


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def _nearest(available: dict[int, Path], epoch: int | None) -> tuple[int, Path] | None:
    if epoch is None or not available:
        return None
    best = min(available, key=lambda e: (abs(e - epoch), e))
    return best, available[best]


# ---------------------------------------------------------------- dataset and recommendation


def dataset_section(run: RunData) -> dict[str, Any]:
    if not run.analysis or "profile" not in run.analysis:
        return _missing(
            "No dataset analysis was saved with this run (analysis.json). Runs started by "
            "`train` or `auto` save one; `smart-tuner report RUN_DIR --dataset DATASET` "
            "analyses the corpus now."
        )
    from smart_tuner.analysis.plots import PLOTS, write_plots
    from smart_tuner.analysis.profile import DatasetProfile

    profile = DatasetProfile.from_dict(run.analysis["profile"])
    with tempfile.TemporaryDirectory() as folder:
        written = write_plots(profile, folder)
        plots = [{"uri": figures.png_uri(path), "caption": PLOTS[path.name][1]} for path in written]
    flags = [
        {
            "label": f.label,
            "assessed": f.assessed,
            "value": _num(f.value) + (f" {f.unit}" if f.unit and f.value is not None else ""),
            "threshold": _num(f.threshold),
            "flagged": f.flagged,
            "note": f.evidence if f.assessed else f.reason,
        }
        for f in profile.complexity
    ]
    components = [
        {
            "label": c.label,
            "value": _num(c.value) + (f" {c.unit}" if c.unit and c.value is not None else ""),
            "score": "-" if c.score is None else f"{c.score:.0f} %",
            "weight": f"{c.weight:.2f}",
            "detail": c.detail,
        }
        for c in profile.quality_components
    ]
    dropped = len(profile.dropped_items)
    hint = None
    if dropped:
        hint = (
            f"{dropped} utterance{'s' * (dropped != 1)} should be left out. Write a cleaned "
            f"filelist with: smart-tuner analyze {profile.dataset} --write-filelist "
            f"{Path(profile.dataset) / 'filelist_clean.txt'}"
        )
    kinds = Counter(p.problem for p in profile.problems)
    return {
        "available": True,
        "name": profile.dataset,
        "facts": [
            (
                "Size",
                f"{profile.size_class}: {_minutes(profile.total_seconds)} in "
                f"{profile.n_utterances} utterances ({profile.n_entries} entries)",
            ),
            ("Layout, language", f"{profile.layout or '-'}, {profile.language}"),
            (
                "Quality",
                f"{profile.quality_class}"
                + (
                    f" ({profile.quality_percent:.0f} %)"
                    if profile.quality_percent is not None
                    else " (not measured)"
                ),
            ),
            ("Complexity", profile.complexity_level),
        ],
        "components": components,
        "flags": flags,
        "plots": plots,
        "problems": [p.to_dict() for p in profile.problems[:MAX_PROBLEMS]],
        "problem_count": len(profile.problems),
        "problem_kinds": ", ".join(f"{k} x{n}" for k, n in kinds.most_common()),
        "hint": hint,
        "notes": list(profile.notes),
    }


def recommendation_section(run: RunData) -> dict[str, Any]:
    if not run.analysis or "plan" not in run.analysis:
        return _missing("No recommendation was saved with this run (analysis.json).")
    plan = run.analysis["plan"]
    history = run.analysis.get("history") or {}
    planned = run.started.get("planned_epochs")
    used = plan.get("epochs")
    return {
        "available": True,
        "epochs": used,
        "confidence": _num(plan.get("confidence"), 2),
        "headline": run.analysis.get("headline", ""),
        "rationale": list(plan.get("rationale") or []),
        "base_epochs": plan.get("base_epochs"),
        "modifiers": [
            {"name": m["name"], "change": f"{m['fraction']:+.0%}", "reason": m["reason"]}
            for m in plan.get("modifiers") or []
        ],
        "history_factor": _num(plan.get("history_factor"), 3),
        "history_runs": list(history.get("runs_used") or []),
        "history_rationale": list(history.get("rationale") or []),
        "trained_epochs": planned,
        "overridden": planned is not None and used is not None and int(planned) != int(used),
    }


# ---------------------------------------------------------------- search


def search_section(run: RunData) -> dict[str, Any]:
    """A study summary (study.json): trials, optimisation history, importances, pruned trials."""
    study = run.study
    if not study:
        return _missing("No hyperparameter search belongs to this run (no study.json).")
    trials = list(study.get("trials") or [])
    direction = str(study.get("direction", "minimize"))
    importances = dict(study.get("importances") or {})
    rows = [
        {
            "number": t.get("number"),
            "state": t.get("state", ""),
            "value": _num(t.get("value"), 4),
            "params": ", ".join(f"{k}={_num(v)}" for k, v in (t.get("params") or {}).items()),
            "note": t.get("pruned_reason") or t.get("fail_reason") or t.get("why") or "",
        }
        for t in trials
    ]
    return {
        "available": True,
        "name": study.get("name") or study.get("study_name", ""),
        "direction": direction,
        "best": study.get("best_params") or {},
        "best_value": _num(study.get("best_value"), 4),
        "trials": rows,
        "pruned": [r for r in rows if str(r["state"]).lower() == "pruned"],
        "history_plot": figures.search_history(trials, direction) if trials else None,
        "importances_plot": figures.importances_plot(importances) if importances else None,
        "note": " ".join([study.get("note", ""), *(study.get("notes") or [])]).strip(),
    }


# ---------------------------------------------------------------- training


def _alignment_epochs(run: RunData) -> list[tuple[str, int | None]]:
    records = run.records
    first = int(records[0]["epoch"]) if records else None
    last = int(records[-1]["epoch"]) if records else None
    formed = next((int(p["start_epoch"]) for p in run.phases if p.get("phase") == "learning"), None)
    best = (run.summary or {}).get("best_epoch")
    return [("first", first), ("formed", formed), ("best", best), ("last", last)]


def training_section(run: RunData) -> dict[str, Any]:
    if not run.records:
        return _missing("No epoch finished in this run yet (metrics.jsonl has no epoch).")
    shown = [d for d in run.decisions if d.get("action") not in QUIET_ACTIONS]
    decisions = [
        {"number": n, "epoch": d["epoch"], "action": d["action"], "reason": d["reason"]}
        for n, d in enumerate(shown, start=1)
    ]
    alignments = []
    for label, epoch in _alignment_epochs(run):
        found = _nearest(run.alignments, epoch)
        if epoch is None:
            alignments.append({"label": label, "missing": "attention never formed"})
        elif found is None:
            alignments.append({"label": label, "missing": "no alignment image saved"})
        else:
            near, path = found
            note = "" if near == epoch else f" (nearest saved: epoch {near})"
            alignments.append(
                {"label": label, "uri": figures.png_uri(path), "caption": f"epoch {epoch}{note}"}
            )
    summary = run.summary or {}
    controller = summary.get("controller") or {}
    facts = [
        ("Stopped because", summary.get("stop_reason", "still running or killed")),
        ("Epochs run", _num(summary.get("epochs_run", run.records[-1]["epoch"]))),
        ("Wall time", _minutes(summary.get("wall_seconds"))),
        (
            "Best epoch",
            f"{_num(summary.get('best_epoch'))} (val_loss {_num(summary.get('best_val_loss'), 4)})",
        ),
        ("Final attention score", _num(summary.get("attention_score"))),
        ("Restarts", _num(controller.get("restarts"))),
    ]
    if summary.get("quality_epoch") is not None:  # the in-training quality monitor's last look
        quality = ", ".join(
            f"{k} {_num(summary[k])}" for k in ("mel_quality", "audio_naturalness") if k in summary
        )
        facts.append((f"Quality at epoch {summary['quality_epoch']}", quality or "-"))
    return {
        "available": True,
        "curves": figures.training_curves(run.records, run.phases, shown),
        "decisions": decisions,
        "phases": run.phases,
        "alignments": alignments,
        "facts": facts,
        "forecast": forecast_part(run),
    }


def forecast_part(run: RunData) -> dict[str, Any]:
    """S25: every remaining-epochs forecast the controller made, against what happened."""
    reports = [
        d["params"]["report"]
        for d in run.decisions
        if d.get("action") == "report" and isinstance((d.get("params") or {}).get("report"), dict)
    ]
    forecasts = [r for r in reports if r.get("predicted_stop_epoch") is not None]
    outcome = ((run.summary or {}).get("controller") or {}).get("outcome") or {}
    stop = outcome.get("stop_epoch")
    if not forecasts:
        why = (
            "The controller made no forecast: too few epochs to fit a learning curve."
            if reports
            else "No progress analysis was recorded."
        )
        return _missing(why)
    rows = [
        {
            "epoch": r["epoch"],
            "remaining": _num(r.get("remaining_epochs")),
            "stop": r["predicted_stop_epoch"],
            "val_loss": _num(r.get("predicted_final_val_loss"), 4),
            "error": "-" if stop is None else f"{int(r['predicted_stop_epoch']) - int(stop):+d}",
        }
        for r in forecasts
    ]
    return {
        "available": True,
        "rows": rows,
        "plot": figures.forecast_plot(forecasts, stop),
        "actual_stop": _num(stop),
        "actual_val_loss": _num(outcome.get("best_val_loss"), 4),
    }
