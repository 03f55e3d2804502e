"""`DatasetProfile`: what a corpus is (S1-S3, S23-S26), as typed, JSON-serialisable data.

The profile is the only thing the recommendation (`smart_tuner.recommend`) reads, so it can be
built by hand in tests, saved with ``to_dict`` and read back with ``from_dict``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SIZE_CLASSES = ("very_small", "small", "medium", "large", "very_large")
QUALITY_CLASSES = ("excellent", "good", "fair", "poor")
COMPLEXITY_LEVELS = ("simple", "moderate", "complex")
FLAG_NAMES = ("variable_tempo", "wide_pitch_range", "emotional_speech", "accent")
FLAG_LABELS = {
    "variable_tempo": "variable tempo",
    "wide_pitch_range": "wide pitch range",
    "emotional_speech": "emotional speech",
    "accent": "accent",
}


@dataclass
class QualityComponent:
    """One measured signal behind the quality %: its value, its 0-100 score and its weight."""

    name: str
    label: str
    value: float | None
    unit: str
    score: float | None
    weight: float
    detail: str = ""

    @property
    def assessed(self) -> bool:
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "assessed": self.assessed}


@dataclass
class ComplexityFlag:
    """A voice-complexity flag (S3) with its measured value and the threshold from config."""

    name: str
    assessed: bool
    flagged: bool = False
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    reason: str = ""  # why it was not assessed
    evidence: str = ""  # what the value was computed from

    @property
    def label(self) -> str:
        return FLAG_LABELS.get(self.name, self.name.replace("_", " "))

    def to_dict(self) -> dict[str, Any]:
        if not self.assessed:
            return {"assessed": False, "reason": self.reason}
        return {
            "assessed": True,
            "flag": self.flagged,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ComplexityFlag:
        if not data.get("assessed", True):
            return cls(name=name, assessed=False, reason=str(data.get("reason", "")))
        return cls(
            name=name,
            assessed=True,
            flagged=bool(data.get("flag", False)),
            value=data.get("value"),
            threshold=data.get("threshold"),
            unit=str(data.get("unit", "")),
            evidence=str(data.get("evidence", "")),
        )


@dataclass
class Problem:
    """A file (or metadata line) that should be fixed or dropped (S26), and why."""

    item: str
    problem: str
    detail: str
    action: str = "drop"  # "drop": left out of --write-filelist; "fix": kept, worth fixing

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class FileSummary:
    """Per-utterance numbers behind the plots and the per-file checks."""

    id: str
    path: str
    duration: float
    text: str = ""
    samplerate: int = 0
    channels: int = 0
    snr_db: float | None = None
    f0_hz: float | None = None
    f0_spread_st: float | None = None
    speaking_rate: float | None = None  # characters per speech second
    speech_ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetProfile:
    dataset: str
    total_seconds: float
    size_class: str
    quality_percent: float | None
    quality_class: str
    complexity_level: str
    complexity: list[ComplexityFlag] = field(default_factory=list)
    quality_components: list[QualityComponent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    layout: str = ""
    language: str = "en"
    n_entries: int = 0  # lines in the metadata, usable or not
    n_utterances: int = 0  # usable and analysed
    speech_seconds: float = 0.0
    samples: dict[str, Any] = field(default_factory=dict)  # what the model-based steps saw
    notes: list[str] = field(default_factory=list)
    analysis_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)

    @property
    def total_hours(self) -> float:
        return self.total_seconds / 3600.0

    def flag(self, name: str) -> ComplexityFlag | None:
        return next((f for f in self.complexity if f.name == name), None)

    @property
    def flags_set(self) -> list[ComplexityFlag]:
        return [f for f in self.complexity if f.assessed and f.flagged]

    @property
    def flags_not_assessed(self) -> list[ComplexityFlag]:
        return [f for f in self.complexity if not f.assessed]

    @property
    def dropped_items(self) -> set[str]:
        return {p.item for p in self.problems if p.action == "drop"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "layout": self.layout,
            "language": self.language,
            "n_entries": self.n_entries,
            "n_utterances": self.n_utterances,
            "total_seconds": round(self.total_seconds, 3),
            "total_hours": round(self.total_hours, 4),
            "speech_seconds": round(self.speech_seconds, 3),
            "size_class": self.size_class,
            "quality_percent": self.quality_percent,
            "quality_class": self.quality_class,
            "quality_components": [c.to_dict() for c in self.quality_components],
            "complexity": {f.name: f.to_dict() for f in self.complexity},
            "complexity_level": self.complexity_level,
            "problems": [p.to_dict() for p in self.problems],
            "samples": self.samples,
            "notes": self.notes,
            "analysis_version": self.analysis_version,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "cache": self.cache,
            "files": [f.to_dict() for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetProfile:
        def pick(kind: type, item: dict[str, Any]) -> Any:
            names = {f.name for f in fields(kind)}
            return kind(**{k: v for k, v in item.items() if k in names})

        simple = {f.name for f in fields(cls)} - {
            "complexity",
            "quality_components",
            "problems",
            "files",
        }
        profile = cls(**{k: v for k, v in data.items() if k in simple})
        profile.complexity = [
            ComplexityFlag.from_dict(name, item)
            for name, item in (data.get("complexity") or {}).items()
        ]
        profile.quality_components = [
            pick(QualityComponent, c) for c in data.get("quality_components") or []
        ]
        profile.problems = [pick(Problem, p) for p in data.get("problems") or []]
        profile.files = [pick(FileSummary, f) for f in data.get("files") or []]
        return profile

    def write_json(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {**self.to_dict(), **(extra or {})}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
