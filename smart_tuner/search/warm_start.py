"""Warm start: the best parameters earlier searches found on similar datasets go first.

Every trial's run is recorded in the history database with its `search_params`; a new study
on a similar corpus (same fingerprint, or close in hours / quality / complexity) enqueues the
best of them as its first trials, so the search starts from what worked, not from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart_tuner.search.space import SearchSpace


@dataclass(frozen=True)
class WarmStart:
    params: dict[str, Any]
    note: str  # where it comes from, for the table and the output


def pick_warm_starts(
    runs: list[dict[str, Any]],
    space: SearchSpace,
    study_name: str,
    count: int,
    min_attention_score: float = 0.0,
) -> list[WarmStart]:
    """The `count` best distinct parameter sets of earlier studies' trials among `runs` (rows
    of `HistoryDB.similar_runs`), restricted to this space; this study's own trials are left
    out (a re-run resumes them instead), and so are runs whose last attention_score was below
    `min_attention_score` (a low loss without alignment: `selection`)."""
    scored = []
    for row in runs:
        params = row.get("params") or {}
        found = params.get("search_params")
        loss = row.get("best_val_loss")
        if not isinstance(found, dict) or params.get("search_study") == study_name:
            continue
        if not isinstance(loss, int | float) or not math.isfinite(loss):
            continue
        attention = (row.get("final_metrics") or {}).get("attention_score")
        if isinstance(attention, int | float) and attention < min_attention_score:
            continue
        kept = space.filter(found)
        if kept is None:
            continue
        scored.append((float(loss), -float(row.get("similarity", 0.0)), kept, row))
    scored.sort(key=lambda item: (item[0], item[1]))
    picked: list[WarmStart] = []
    seen: list[dict[str, Any]] = []
    for loss, _, params, row in scored:
        if params in seen:
            continue
        seen.append(params)
        note = (
            f"study {row['params'].get('search_study')} trial "
            f"{row['params'].get('search_trial')}, val_loss {loss:.4f}, "
            f"similarity {row.get('similarity', 0.0):.2f}"
        )
        picked.append(WarmStart(params, note))
        if len(picked) == count:
            break
    return picked


def warm_starts_from_history(
    db_path: Path,
    features: dict[str, Any],
    space: SearchSpace,
    study_name: str,
    count: int,
    min_attention_score: float = 0.0,
) -> list[WarmStart]:
    from smart_tuner.track.history import HistoryDB

    if count <= 0 or not Path(db_path).exists() or not features:
        return []
    runs = HistoryDB(db_path).similar_runs(features, k=1000)
    return pick_warm_starts(runs, space, study_name, count, min_attention_score)
