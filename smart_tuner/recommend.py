"""How many epochs to train: a `DatasetProfile` (and the history) in, an `EpochPlan` out (S1-S4).

Pure Python over plain data, so it is tested with synthetic profiles, without audio.

    epochs = table[size class] x (1 + quality modifier) x product(1 + flag modifier)
             x history factor, rounded, then clamped

- the size class comes from the profile's total hours and `analysis.size_classes` (S1);
- the quality modifier from the quality % and `analysis.quality_classes` (S2): excellent -20 %,
  good -10 %, fair +-0, poor +30 %; an unknown quality changes nothing;
- one modifier per complexity flag that is set (S3): accent +20 %, emotional speech +30 %,
  variable tempo +20 %, wide pitch range +30 %. Every modifier scales the count it is applied
  to, so the order never matters and two flags compound (x 1.2 x 1.3);
- `history_correction.factor` (from the history of finished runs, S19) multiplies the result;
- the count is rounded to 10 epochs (1 for XTTS) and clamped to
  `hyperparameter_search_space.epochs` (XTTS: `analysis.xtts_epochs`).

The confidence (0..1) says how much evidence stands behind the number; see `confidence`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from smart_tuner.analysis.classes import (
    QUALITY_WEIGHTS,
    classify_quality,
    classify_size,
    complexity_level,
)
from smart_tuner.analysis.profile import FLAG_LABELS, DatasetProfile

if TYPE_CHECKING:
    from smart_tuner.config import Config

SIZE_LABELS = {
    "very_small": "< {very_small:g} h",
    "small": "{very_small:g}-{small:g} h",
    "medium": "{small:g}-{medium:g} h",
    "large": "{medium:g}-{large:g} h",
    "very_large": "> {large:g} h",
}


class HistoryCorrection(Protocol):
    """What the history of finished runs (S19) says about this recommendation."""

    factor: float
    confidence: float
    rationale: list[str]


@dataclass
class Modifier:
    name: str
    fraction: float  # +0.3 = 30 % more epochs
    reason: str


@dataclass
class EpochPlan:
    epochs: int
    confidence: float
    rationale: list[str]
    model_family: str = "tacotron2"
    size_class: str = ""
    quality_class: str = ""
    complexity_level: str = ""
    base_epochs: int = 0
    modifiers: list[Modifier] = field(default_factory=list)
    history_factor: float | None = None
    unclamped_epochs: float = 0.0
    clamp_min: int = 0
    clamp_max: int = 0

    @property
    def clamped(self) -> bool:
        return not self.clamp_min <= round(self.unclamped_epochs) <= self.clamp_max

    @property
    def headline(self) -> str:
        return f"Recommendation of {self.epochs} epochs is based on:"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unclamped_epochs"] = round(self.unclamped_epochs, 2)
        data["clamped"] = self.clamped
        return data


def _round(value: float, step: int) -> int:
    return int(math.floor(value / step + 0.5) * step)


def _hours(h: float) -> str:
    return f"{h * 60:.1f} min" if h < 1 else f"{h:.2f} h"


def confidence(profile: DatasetProfile, config: Config, clamped: bool = False) -> float:
    """0.5 + 0.45 x weighted evidence (each term 0..1), minus 0.05 when the count was clamped.

    - amount (0.25): log10(minutes of audio) / log10(600), so 10 h counts in full;
    - quality coverage (0.25): share of the quality weight that was actually measured;
    - complexity coverage (0.20): share of the four flags that could be assessed;
    - size margin (0.15): distance from the nearest size-class boundary, full at a factor 1.5
      (29 min and 31 min get different tables; that decision is fragile);
    - usable share (0.15): entries that are not to be dropped.
    """
    minutes = max(profile.total_seconds / 60.0, 1e-6)
    amount = min(1.0, max(0.0, math.log10(max(minutes, 1.0)) / math.log10(600.0)))
    nominal = sum(w for _, w, _, _ in QUALITY_WEIGHTS.values())
    measured = sum(c.weight for c in profile.quality_components if c.score is not None)
    quality = min(1.0, measured / nominal) if profile.quality_components else 0.0
    if profile.quality_percent is None:
        quality = 0.0
    assessed = sum(f.assessed for f in profile.complexity)
    complexity = assessed / len(FLAG_LABELS)
    b = config.analysis.size_classes
    hours = max(profile.total_hours, 1e-9)
    nearest = min(abs(math.log(hours / x)) for x in (b.very_small, b.small, b.medium, b.large))
    margin = min(1.0, nearest / math.log(1.5))
    entries = max(profile.n_entries, profile.n_utterances, 1)
    dropped = len(profile.dropped_items)
    usable = max(0.0, 1.0 - dropped / entries)
    evidence = 0.25 * amount + 0.25 * quality + 0.20 * complexity + 0.15 * margin + 0.15 * usable
    value = 0.5 + 0.45 * evidence - (0.05 if clamped else 0.0)
    return round(min(1.0, max(0.0, value)), 2)


def recommend(
    profile: DatasetProfile,
    config: Config,
    history_correction: HistoryCorrection | None = None,
) -> EpochPlan:
    a = config.analysis
    family = a.model_family
    table = getattr(a.epochs, family)
    size = classify_size(profile.total_hours, a)
    base = int(getattr(table, size))
    quality = classify_quality(profile.quality_percent, a)
    flags = profile.flags_set
    level = complexity_level(len(flags), a)

    modifiers: list[Modifier] = []
    if quality != "unknown":
        fraction = float(getattr(a.quality_modifiers, quality))
        modifiers.append(
            Modifier(f"quality_{quality}", fraction, f"quality {profile.quality_percent:.0f} %")
        )
    for flag in flags:
        fraction = float(getattr(a.complexity_modifiers, flag.name, 0.0))
        modifiers.append(
            Modifier(flag.name, fraction, f"{flag.value:g} >= threshold {flag.threshold:g}")
        )
    value = float(base)
    for m in modifiers:
        value *= 1.0 + m.fraction
    factor = None
    if history_correction is not None:
        factor = float(history_correction.factor)
        value *= factor

    if family == "xtts":
        low, high, step = a.xtts_epochs.min, a.xtts_epochs.max, 1
    else:
        space = config.hyperparameter_search_space.epochs
        low, high, step = space.min, space.max, 10
    epochs = min(high, max(low, _round(value, step)))
    plan = EpochPlan(
        epochs=epochs,
        confidence=0.0,
        rationale=[],
        model_family=family,
        size_class=size,
        quality_class=quality,
        complexity_level=level,
        base_epochs=base,
        modifiers=modifiers,
        history_factor=factor,
        unclamped_epochs=value,
        clamp_min=low,
        clamp_max=high,
    )
    conf = confidence(profile, config, plan.clamped)
    if history_correction is not None:
        # Independent evidence from past runs can only add certainty (noisy-or).
        hist = min(1.0, max(0.0, float(history_correction.confidence)))
        conf = round(min(0.99, 1.0 - (1.0 - conf) * (1.0 - hist)), 2)
    plan.confidence = conf
    plan.rationale = _rationale(profile, config, plan, history_correction)
    return plan


def _rationale(
    profile: DatasetProfile,
    config: Config,
    plan: EpochPlan,
    history: HistoryCorrection | None,
) -> list[str]:
    a = config.analysis
    bounds = a.size_classes.model_dump()
    span = SIZE_LABELS[plan.size_class].format(**bounds)
    lines = [
        f"Dataset size: {plan.size_class} ({_hours(profile.total_hours)}, {span}): "
        f"{plan.base_epochs} epochs in the {plan.model_family} table"
    ]
    quality_mod = next((m for m in plan.modifiers if m.name.startswith("quality_")), None)
    if quality_mod is None:
        lines.append("Quality: unknown (not measured): no change")
    else:
        lines.append(
            f"Quality: {plan.quality_class} ({profile.quality_percent:.0f} %): "
            f"{quality_mod.fraction:+.0%} epochs"
        )
    flag_mods = [m for m in plan.modifiers if not m.name.startswith("quality_")]
    if flag_mods:
        listed = ", ".join(
            f"{FLAG_LABELS.get(m.name, m.name)} {m.fraction:+.0%} ({m.reason})" for m in flag_mods
        )
        lines.append(f"Voice complexity: {plan.complexity_level}: {listed}")
    else:
        lines.append(f"Voice complexity: {plan.complexity_level}: no flag set")
    for flag in profile.flags_not_assessed:
        lines.append(f"Not assessed: {flag.label} ({flag.reason})")
    if history is not None:
        lines.append(f"History of past runs: x{float(history.factor):.2f}")
        lines.extend(f"  {line}" for line in history.rationale)
    if plan.clamped:
        lines.append(
            f"Clamped from {plan.unclamped_epochs:.0f} to the allowed range "
            f"[{plan.clamp_min}, {plan.clamp_max}]"
        )
    return lines
