"""`smart-tuner history [--json]`: past runs and the correction the history now implies.

The correction is shown per dataset found in the history (grouped by dataset fingerprint, or
by profile when there is none), computed with the features of that dataset's latest run.
Reading never creates the database file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from smart_tuner.history_learning import learn_epoch_correction
from smart_tuner.track.history import HistoryDB

DATASET_KEYS = ("dataset_hours", "quality_percent", "complexity_level", "language", "preset")


def _load(db_path: Path) -> tuple[list[dict[str, Any]], int | None]:
    if not Path(db_path).exists():
        return [], None
    db = HistoryDB(db_path)
    return db.runs(), db.schema_version()


def _dataset_key(row: dict[str, Any]) -> str | None:
    features = row.get("features") or {}
    if features.get("dataset_fingerprint"):
        return str(features["dataset_fingerprint"])
    values = [features.get(k) for k in DATASET_KEYS]
    if all(v is None for v in values[:3]):
        return None
    return "profile " + " ".join(f"{k}={v}" for k, v in zip(DATASET_KEYS, values, strict=True))


def corrections(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One correction per dataset in the history, newest dataset first."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # oldest first, so the last one wins
        key = _dataset_key(row)
        if key is not None:
            latest[key] = row
    out = []
    for key, row in sorted(latest.items(), key=lambda kv: kv[1]["finished_at"], reverse=True):
        correction = learn_epoch_correction(row["features"], rows)
        out.append({"dataset": key, "features": row["features"], **correction.to_dict()})
    return out


def history_json(db_path: Path) -> dict[str, Any]:
    rows, version = _load(db_path)
    return {
        "db": str(db_path),
        "schema_version": version,
        "runs": [{k: v for k, v in row.items() if k != "summary"} for row in rows],
        "corrections": corrections(rows),
    }


def _num(value: Any, fmt: str = "{:.4f}") -> str:
    return "-" if value is None else fmt.format(value)


COLUMNS = (  # (header, justify, shown in a narrow terminal)
    ("finished", "left", False),
    ("run", "left", True),
    ("dataset", "left", False),
    ("hours", "right", False),
    ("quality %", "right", False),
    ("table ep.", "right", True),
    ("best ep.", "right", True),
    ("ran", "right", True),
    ("stop reason", "left", True),
    ("best val_loss", "right", True),
    ("wall", "right", True),
    ("predicted stop", "right", False),
)
WIDE = 150  # characters a terminal needs for every column


def history_table(db_path: Path, width: int = WIDE) -> Table:
    """Past runs, one row each; a terminal narrower than WIDE gets the essential columns."""
    rows, _ = _load(db_path)
    table = Table(title=f"Run history ({db_path})", show_lines=False)
    shown = [width >= WIDE or narrow for _, _, narrow in COLUMNS]
    for (name, justify, _), show in zip(COLUMNS, shown, strict=True):
        if show:
            keep = name in ("run", "stop reason")  # never broken mid-word
            table.add_column(name, justify=justify, overflow="fold", no_wrap=keep)  # type: ignore[arg-type]
    for row in rows:
        f = row.get("features") or {}
        cells = (
            str(row["finished_at"])[:16].replace("T", " "),
            row["run_id"] + (f" ({row['label']})" if row.get("label") else ""),
            str(f.get("dataset_fingerprint") or "-")[:12],
            _num(f.get("dataset_hours"), "{:.2f}"),
            _num(f.get("quality_percent"), "{:.0f}"),
            _num(row.get("table_epochs") or row.get("recommended_epochs"), "{}"),
            _num(row.get("best_epoch"), "{}"),
            _num(row.get("epochs_run"), "{}"),
            str(row.get("stop_reason") or "-"),
            _num(row.get("best_val_loss")),
            _num((row.get("wall_seconds") or 0) / 60, "{:.1f} min"),
            _num(row.get("predicted_stop_epoch"), "{:.0f}"),
        )
        table.add_row(*(cell for cell, show in zip(cells, shown, strict=True) if show))
    lines = []
    for c in corrections(rows):
        lines.append(
            f"{c['dataset'][:40]}: epochs x{c['factor']:.2f} (confidence {c['confidence']:.2f}, "
            f"{len(c['runs_used'])} run(s) used)"
        )
    if not rows:
        lines.append("no finished runs yet: recommendations use the table as it is")
    elif not lines:
        lines.append("no run recorded a dataset profile (run `analyze` / `auto`): none yet")
    table.caption = "Correction of the table's epochs: " + ("; ".join(lines) or "none")
    return table


def print_history(db_path: Path, console: Console, *, as_json: bool = False) -> int:
    """What `smart-tuner history` prints; returns the exit code."""
    if as_json:
        # Plain text, never wrapped by rich, so the output stays valid JSON when piped.
        console.file.write(json.dumps(history_json(db_path), indent=2, default=str) + "\n")
        return 0
    console.print(history_table(db_path, console.width))
    for c in corrections(_load(db_path)[0]):
        console.print(f"[bold]{c['dataset']}[/bold]")
        for line in c["rationale"]:
            console.print(f"  {line}", highlight=False)
    return 0
