"""The dataset analysis's sections (S1-S4, S23-S26): size and quality classes, epoch tables,
complexity thresholds, sampling, problem thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smart_tuner.config.base import Section
from smart_tuner.config.control_sections import EpochRange

# ---------------------------------------------------------------- dataset analysis (S1-S4, S23-S26)


class SizeClassBounds(Section):
    """Upper bounds (hours of audio) of the size classes; above `large` is very_large (S1)."""

    very_small: float = Field(0.5, gt=0.0)
    small: float = Field(1.0, gt=0.0)
    medium: float = Field(3.0, gt=0.0)
    large: float = Field(10.0, gt=0.0)


class Tacotron2Epochs(Section):
    """Epochs per size class before the quality and complexity modifiers: the user's table."""

    very_small: int = Field(4000, ge=1)
    small: int = Field(3000, ge=1)
    medium: int = Field(2000, ge=1)
    large: int = Field(1500, ge=1)
    very_large: int = Field(1000, ge=1)


class XttsEpochs(Section):
    """The user's one XTTS row (1-5 h -> 10-30 epochs), spread over the size classes."""

    very_small: int = Field(30, ge=1)
    small: int = Field(30, ge=1)
    medium: int = Field(20, ge=1)
    large: int = Field(15, ge=1)
    very_large: int = Field(10, ge=1)


class EpochTables(Section):
    tacotron2: Tacotron2Epochs = Tacotron2Epochs()
    xtts: XttsEpochs = XttsEpochs()


class QualityClassBounds(Section):
    """Lower bounds (quality %) of the classes; below `fair` is poor (S2)."""

    excellent: float = Field(90.0, ge=0.0, le=100.0)
    good: float = Field(70.0, ge=0.0, le=100.0)
    fair: float = Field(50.0, ge=0.0, le=100.0)


class QualityModifiers(Section):
    """Fraction of epochs added (negative: removed) per quality class (S2)."""

    excellent: float = Field(-0.2, gt=-1.0)
    good: float = Field(-0.1, gt=-1.0)
    fair: float = Field(0.0, gt=-1.0)
    poor: float = Field(0.3, gt=-1.0)


class ComplexityModifiers(Section):
    """Fraction of epochs added per complexity flag that is set (S3)."""

    accent: float = Field(0.2, gt=-1.0)
    emotional_speech: float = Field(0.3, gt=-1.0)
    variable_tempo: float = Field(0.2, gt=-1.0)
    wide_pitch_range: float = Field(0.3, gt=-1.0)


class ComplexityThresholds(Section):
    """A flag is set when its measured value reaches the threshold (see smart_tuner.analysis)."""

    variable_tempo: float = Field(
        0.35, gt=0.0, description="(P90 - P10) / P50 of characters per speech second."
    )
    wide_pitch_range: float = Field(
        5.3, gt=0.0, description="Semitones between P5 and P95 of per-utterance median F0."
    )
    emotional_speech: float = Field(
        0.42, gt=0.0, description="Expressiveness score: mean log2 ratio to neutral read speech."
    )
    accent: float = Field(
        0.017, gt=0.0, description="Share of expected phones in recurring near-miss substitutions."
    )
    moderate_flags: int = Field(1, ge=1, description="Flags set for the level 'moderate'.")
    complex_flags: int = Field(2, ge=1, description="Flags set for the level 'complex'.")


class AccentCheck(Section):
    """When the ASR evidence is good enough to judge an accent at all (S24)."""

    min_snr_db: float = Field(15.0, description="Median WADA-SNR below this: not assessed.")
    min_quality: float = Field(
        50.0, ge=0.0, le=100.0, description="Quality % below this: not assessed."
    )
    max_wer: float = Field(
        0.6, gt=0.0, description="ASR word error above this is noted (never a reason to abstain)."
    )
    min_utterances: int = Field(
        3, ge=1, description="A substitution must recur in this many utterances."
    )
    min_rate: float = Field(
        0.2, gt=0.0, le=1.0, description="...and replace this share of the phone's occurrences."
    )


class AnalysisSampling(Section):
    """Caps for the model-based steps, which run on a seeded sample (not on every file)."""

    seed: int = 1234
    dnsmos_max_seconds: float = Field(90.0, ge=0.0, description="0 disables DNSMOS.")
    asr_max_utterances: int = Field(16, ge=0, description="0 disables the accent check.")


class ProblemThresholds(Section):
    """Per-file checks behind the dataset advice (S26)."""

    clipped_fraction: float = Field(0.001, ge=0.0, le=1.0)
    dc_offset: float = Field(0.02, ge=0.0)
    silent_dbfs: float = Field(-50.0, le=0.0, description="Speech level below this: silent.")
    noisy_db_below_median: float = Field(15.0, gt=0.0)
    noisy_max_snr_db: float = Field(15.0, description="...and below this SNR: much noisier.")
    max_edge_silence_seconds: float = Field(1.0, gt=0.0)
    rate_mismatch_factor: float = Field(
        2.0, gt=1.0, description="Characters/second this far from the median: text mismatch."
    )


class AnalysisConfig(Section):
    model_family: Literal["tacotron2", "xtts"] = "tacotron2"
    size_classes: SizeClassBounds = SizeClassBounds()
    epochs: EpochTables = EpochTables()
    xtts_epochs: EpochRange = EpochRange(min=10, max=30, default=20)
    quality_classes: QualityClassBounds = QualityClassBounds()
    quality_modifiers: QualityModifiers = QualityModifiers()
    complexity_modifiers: ComplexityModifiers = ComplexityModifiers()
    complexity_thresholds: ComplexityThresholds = ComplexityThresholds()
    accent: AccentCheck = AccentCheck()
    sampling: AnalysisSampling = AnalysisSampling()
    problems: ProblemThresholds = ProblemThresholds()
    workers: int | None = Field(None, ge=1, le=256, description="None: one per CPU core.")
    cache_dir: str | None = Field(
        None, description="Per-file results; default $XDG_CACHE_HOME/smart_tuner/analysis."
    )
