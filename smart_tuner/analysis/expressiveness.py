"""Expressiveness (the "emotional speech" flag, S3): several prosodic measures, each compared
with neutral read speech, instead of one absolute pitch threshold.

One number cannot tell expressive from calm speech across voices: a calm human reader moves
F0 by 2-4 semitones, a flat synthetic voice by about 1, an expressive one by 3. So the score
combines measures of two kinds, each read as a ratio to its value in neutral read speech
(REFERENCE, the median over the neutral voices of the calibration set built by
benchmarks/calibration_corpora.py; benchmarks/complexity_calibration.py prints them):

| component | per corpus | normalised by |
|---|---|---|
| f0_spread | median within-utterance F0 spread (robust SD, semitones) | neutral speech |
| f0_range | median within-utterance F0 range (P95 - P5, semitones) | neutral speech |
| f0_slope | median variety of F0 slopes (robust SD, semitones per second) | neutral speech |
| energy | median within-utterance loudness SD (dB, speech frames) | neutral speech |
| spread_variation | (P90 - P10) / P50 of the per-utterance F0 spread | the corpus's own median |
| level_variation | P90 - P10 of the per-utterance speech level (dB) | the corpus's own median |
| rate_variation | (P90 - P10) / P50 of characters per speech second | the corpus's own median |
| pause_variation | P90 - P10 of the per-utterance pause share | neutral speech |

The within-utterance measures depend on the voice (a lively neutral reader scores like an
expressive flat one); the between-utterance ones are relative to the speaker's own baseline
(how much one utterance's style departs from the corpus's usual), so they transfer across
voices and catch corpora that mix calm and emotional styles, as emotional corpora do. The score
is the weighted mean of log2(value / reference) (0: like neutral read speech); the flag is set
at `complexity_thresholds.emotional_speech`. Weights and reference come from the calibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smart_tuner.analysis.profile import ComplexityFlag

if TYPE_CHECKING:
    from smart_tuner.analysis.measures import FileStats
    from smart_tuner.config import AnalysisConfig

MIN_UTTERANCES = 8
LOG_CLIP = (-1.5, 3.0)

# Neutral read speech: medians over the calibration set's unmodified voices (tune part).
REFERENCE: dict[str, float] = {
    "f0_spread": 1.535,
    "f0_range": 5.769,
    "f0_slope": 15.03,
    "energy": 11.324,
    "spread_variation": 0.461,
    "level_variation": 1.836,
    "rate_variation": 0.18,
    "pause_variation": 0.054,
}
# Chosen on the calibration set's tune part: the between-utterance measures carry the score;
# the voice-dependent within-utterance ones and tempo (its own flag) weigh less.
WEIGHTS: dict[str, float] = {
    "f0_spread": 0.5,
    "f0_range": 0.5,
    "f0_slope": 0.25,
    "energy": 0.25,
    "spread_variation": 1.0,
    "level_variation": 1.0,
    "rate_variation": 0.1,
    "pause_variation": 0.25,
}
LABELS = {
    "f0_spread": ("F0 spread", "st"),
    "f0_range": ("F0 range", "st"),
    "f0_slope": ("F0 slope variety", "st/s"),
    "energy": ("loudness movement", "dB"),
    "spread_variation": ("F0-spread variation between utterances", ""),
    "level_variation": ("level variation between utterances", "dB"),
    "rate_variation": ("speaking-rate variation", ""),
    "pause_variation": ("pause variation", ""),
}


@dataclass
class Component:
    name: str
    value: float
    reference: float

    @property
    def log_ratio(self) -> float:
        """log2(value / reference), clipped so one odd component cannot decide alone."""
        return min(LOG_CLIP[1], max(LOG_CLIP[0], math.log2(max(self.value, 1e-6) / self.reference)))

    def describe(self) -> str:
        label, unit = LABELS[self.name]
        return f"{label} {self.value:.2f}{(' ' + unit) if unit else ''} (x{2**self.log_ratio:.1f})"


def _median(values: Sequence[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return float(np.median(got)) if len(got) >= MIN_UTTERANCES else None


def components(stats: Sequence[FileStats], rates: Sequence[float]) -> list[Component]:
    """The measurable components of a corpus's utterances (each needs >= 8 utterances)."""
    values: dict[str, float | None] = {
        "f0_spread": _median([s.f0_spread_st for s in stats]),
        "f0_range": _median([s.f0_range_st for s in stats]),
        "f0_slope": _median([s.f0_slope_sd for s in stats]),
        "energy": _median([s.loudness_sd_db for s in stats]),
        "spread_variation": None,
        "level_variation": None,
        "rate_variation": None,
        "pause_variation": None,
    }
    spreads = [s.f0_spread_st for s in stats if s.f0_spread_st is not None]
    if len(spreads) >= MIN_UTTERANCES:
        p10, p50, p90 = np.percentile(spreads, [10, 50, 90])
        values["spread_variation"] = float((p90 - p10) / max(p50, 1e-6))
    levels = [s.active_dbfs for s in stats if s.speech_seconds > 0]
    if len(levels) >= MIN_UTTERANCES:
        p10, p90 = np.percentile(levels, [10, 90])
        values["level_variation"] = float(p90 - p10)
    good_rates = [r for r in rates if r > 0]
    if len(good_rates) >= MIN_UTTERANCES:
        p10, p50, p90 = np.percentile(good_rates, [10, 50, 90])
        values["rate_variation"] = float((p90 - p10) / p50)
    pauses = [s.pause_ratio for s in stats if s.pause_ratio is not None]
    if len(pauses) >= MIN_UTTERANCES:
        p10, p90 = np.percentile(pauses, [10, 90])
        values["pause_variation"] = float(p90 - p10)
    return [Component(k, v, REFERENCE[k]) for k, v in values.items() if v is not None]


def score(parts: Sequence[Component]) -> float | None:
    total = sum(WEIGHTS[c.name] for c in parts)
    if not total:
        return None
    return sum(WEIGHTS[c.name] * c.log_ratio for c in parts) / total


def emotion_flag(
    stats: Sequence[FileStats], rates: Sequence[float], cfg: AnalysisConfig
) -> ComplexityFlag:
    voiced = [s for s in stats if s.f0_spread_st is not None]
    if len(voiced) < MIN_UTTERANCES:
        return ComplexityFlag(
            "emotional_speech",
            assessed=False,
            reason=f"too few utterances with a pitch track ({len(voiced)} < {MIN_UTTERANCES})",
        )
    parts = components(voiced, rates)
    value = score(parts)
    if value is None:  # unreachable with >= 8 voiced utterances (f0_spread is then measured)
        return ComplexityFlag("emotional_speech", assessed=False, reason="nothing measurable")
    threshold = cfg.complexity_thresholds.emotional_speech
    return ComplexityFlag(
        "emotional_speech",
        assessed=True,
        flagged=value >= threshold,
        value=round(value, 3),
        threshold=threshold,
        unit="log2 x neutral read speech",
        evidence=f"over {len(voiced)} utterances, each against neutral read speech: "
        + "; ".join(c.describe() for c in parts),
    )
