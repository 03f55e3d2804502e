"""What `auto` has done so far, kept in its folder so a re-run resumes at the stage it reached.

DIR/stages/NAME.json holds one finished stage (what it chose, why, how long it took);
DIR/stages.log gets one line per stage finished; DIR/summary.json gathers them all.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("analyse", "search", "train", "evaluate", "report")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
    os.replace(tmp, path)


@dataclass
class StageResult:
    status: str  # "done" or "skipped"
    chose: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "chose": self.chose,
            "why": self.why,
            "wall_seconds": round(self.wall_seconds, 1),
        }


class AutoRecord:
    """The stages finished in DIR, read back on a re-run."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.folder = out / "stages"

    def get(self, stage: str) -> StageResult | None:
        path = self.folder / f"{stage}.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # torn by a kill: the stage runs again
            return None
        return StageResult(data["status"], data["chose"], data["why"], data["wall_seconds"])

    def partial(self, stage: str) -> float:
        """Seconds spent in earlier, interrupted attempts at `stage`."""
        path = self.folder / f"{stage}.partial"
        try:
            return float(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0.0

    def add_partial(self, stage: str, seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{stage}.partial").write_text(
            f"{self.partial(stage) + seconds:.1f}", encoding="utf-8"
        )

    def finish(self, stage: str, result: StageResult) -> None:
        _write_json(self.folder / f"{stage}.json", result.to_dict())
        with open(self.out / "stages.log", "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {result.status} {stage}\n")

    def write_summary(self, header: dict[str, Any]) -> Path:
        stages = {}
        for stage in STAGES:
            result = self.get(stage)
            stages[stage] = result.to_dict() if result else {"status": "not reached"}
        path = self.out / "summary.json"
        _write_json(path, {**header, "stages": stages})
        return path
