"""The epoch recommendation (S1-S4) as a pure function of a profile: properties and examples."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.analysis.profile import (
    FLAG_NAMES,
    ComplexityFlag,
    DatasetProfile,
    Problem,
    QualityComponent,
)
from smart_tuner.analysis.report import format_summary
from smart_tuner.config import Config, load_config
from smart_tuner.recommend import recommend

CONFIG = Config()
TABLE = {"very_small": 4000, "small": 3000, "medium": 2000, "large": 1500, "very_large": 1000}
QUALITY = {"excellent": -0.2, "good": -0.1, "fair": 0.0, "poor": 0.3}
FLAGS = {"accent": 0.2, "emotional_speech": 0.3, "variable_tempo": 0.2, "wide_pitch_range": 0.3}
PERCENT = {"excellent": 95.0, "good": 80.0, "fair": 60.0, "poor": 30.0}


def profile(
    hours: float,
    quality: float | None = 80.0,
    flags: tuple[str, ...] = (),
    not_assessed: tuple[str, ...] = (),
    n_utterances: int = 500,
) -> DatasetProfile:
    complexity = []
    for name in FLAG_NAMES:
        if name in not_assessed:
            complexity.append(ComplexityFlag(name, assessed=False, reason="test"))
        else:
            flagged = name in flags
            complexity.append(
                ComplexityFlag(name, True, flagged, 2.0 if flagged else 0.1, 1.0, "x")
            )
    components = [QualityComponent("snr", "SNR", 30.0, "dB", quality, 1.0)]
    return DatasetProfile(
        dataset="synthetic",
        total_seconds=hours * 3600.0,
        size_class="",
        quality_percent=quality,
        quality_class="",
        complexity_level="",
        complexity=complexity,
        quality_components=components if quality is not None else [],
        n_utterances=n_utterances,
        n_entries=n_utterances,
    )


@dataclass
class History:
    factor: float
    confidence: float
    rationale: list[str] = field(default_factory=lambda: ["3 past runs stopped early"])


hours_st = st.floats(min_value=0.01, max_value=200.0, allow_nan=False)
quality_st = st.one_of(st.none(), st.floats(min_value=0.0, max_value=100.0))
flags_st = st.sets(st.sampled_from(FLAG_NAMES)).map(lambda s: tuple(sorted(s)))


@settings(max_examples=300, deadline=None)
@given(a=hours_st, b=hours_st, quality=quality_st, flags=flags_st)
def test_monotone_in_hours(a, b, quality, flags):
    low, high = sorted((a, b))
    assert (
        recommend(profile(low, quality, flags), CONFIG).epochs
        >= recommend(profile(high, quality, flags), CONFIG).epochs
    )


@settings(max_examples=300, deadline=None)
@given(
    hours=hours_st,
    quality=quality_st,
    flags=flags_st,
    factor=st.floats(min_value=0.01, max_value=100.0),
    lo=st.integers(min_value=1, max_value=3000),
    width=st.integers(min_value=0, max_value=5000),
)
def test_always_clamped_to_the_search_space(hours, quality, flags, factor, lo, width):
    config = load_config(
        None,
        {
            "hyperparameter_search_space.epochs.min": lo,
            "hyperparameter_search_space.epochs.max": lo + width,
            "hyperparameter_search_space.epochs.default": lo + width // 2,
            "control.reference_epochs": 2000,  # the warm-ups are written for 2000 epochs
        },
    )
    plan = recommend(profile(hours, quality, flags), config, History(factor, 0.5))
    assert lo <= plan.epochs <= lo + width
    assert 0.0 <= plan.confidence <= 1.0
    if plan.clamped:
        assert any("Clamped" in line for line in plan.rationale)


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from(list(TABLE)),
    quality=st.sampled_from(list(QUALITY)),
    flags=flags_st,
)
def test_modifiers_are_applied_as_the_user_specified(size, quality, flags):
    hours = {"very_small": 0.3, "small": 0.7, "medium": 2.0, "large": 5.0, "very_large": 20.0}
    plan = recommend(profile(hours[size], PERCENT[quality], flags), CONFIG)
    expected = TABLE[size] * (1 + QUALITY[quality]) * math.prod(1 + FLAGS[f] for f in flags)
    assert plan.size_class == size and plan.quality_class == quality
    assert plan.base_epochs == TABLE[size]
    assert math.isclose(plan.unclamped_epochs, expected)
    assert plan.epochs == min(5000, max(500, round(expected / 10) * 10))


def test_size_table_and_quality_classes_exactly():
    # S1 boundaries: < 30 min, 30-60 min, 1-3 h, 3-10 h, > 10 h
    for hours, size in [(0.49, "very_small"), (0.5, "small"), (1.0, "medium"), (3.0, "large")]:
        assert recommend(profile(hours), CONFIG).size_class == size
    assert recommend(profile(10.01), CONFIG).size_class == "very_large"
    # S2: excellent > 90, good 70-90, fair 50-70, poor < 50
    for percent, cls in [(90.5, "excellent"), (90.0, "good"), (70.0, "good"), (69.9, "fair")]:
        assert recommend(profile(2.0, percent), CONFIG).quality_class == cls
    assert recommend(profile(2.0, 49.9), CONFIG).quality_class == "poor"


def test_the_users_examples():
    # Example 2: large, excellent, simple -> 1200
    plan = recommend(profile(8.0, 95.0), CONFIG)
    assert (plan.epochs, plan.complexity_level) == (1200, "simple")
    # very_small, good, one flag (moderate): 4000 x 0.9 x 1.2
    plan = recommend(profile(0.45, 80.0, ("variable_tempo",)), CONFIG)
    assert (plan.epochs, plan.complexity_level) == (4320, "moderate")
    two = recommend(profile(0.45, 80.0, ("accent", "variable_tempo")), CONFIG)
    assert two.complexity_level == "complex"


def test_unknown_quality_changes_nothing_and_lowers_confidence():
    known = recommend(profile(2.0, 60.0), CONFIG)
    unknown = recommend(profile(2.0, None), CONFIG)
    assert unknown.epochs == known.epochs == 2000
    assert unknown.quality_class == "unknown" and unknown.confidence < known.confidence


def test_confidence_drops_when_flags_cannot_be_assessed():
    full = recommend(profile(2.0), CONFIG)
    partial = recommend(profile(2.0, not_assessed=("accent",)), CONFIG)
    assert partial.confidence < full.confidence
    assert any("Not assessed: accent" in line for line in partial.rationale)


def test_confidence_grows_with_evidence_and_falls_near_a_boundary():
    assert recommend(profile(8.0), CONFIG).confidence > recommend(profile(0.1), CONFIG).confidence
    assert recommend(profile(0.3), CONFIG).confidence > recommend(profile(0.49), CONFIG).confidence
    broken = profile(2.0)
    broken.problems = [Problem(f"u{i}", "silent", "", "drop") for i in range(250)]
    assert recommend(broken, CONFIG).confidence < recommend(profile(2.0), CONFIG).confidence


def test_history_correction_multiplies_and_merges():
    base = recommend(profile(2.0, 80.0), CONFIG)  # 2000 x 0.9 = 1800
    corrected = recommend(profile(2.0, 80.0), CONFIG, History(0.5, 0.6))
    assert base.epochs == 1800 and corrected.epochs == 900
    assert corrected.history_factor == 0.5
    assert corrected.confidence > base.confidence
    assert any("3 past runs stopped early" in line for line in corrected.rationale)
    assert recommend(profile(2.0, 80.0), CONFIG, None).epochs == 1800


def test_xtts_family_uses_its_own_row_and_range():
    config = load_config(None, {"analysis.model_family": "xtts"})
    plan = recommend(profile(2.0, 95.0), config)  # medium 20 x 0.8 = 16
    assert plan.model_family == "xtts" and plan.epochs == 16
    assert 10 <= recommend(profile(0.1, 10.0, FLAG_NAMES), config).epochs <= 30


def test_summary_block_has_the_users_lines():
    p = profile(0.45, 80.0, ("variable_tempo",))
    p.size_class, p.quality_class, p.complexity_level = "very_small", "good", "moderate"
    text = format_summary(p, recommend(p, CONFIG))
    for needle in (
        "Size: very_small",
        "Quality: good (80 %)",
        "Complexity: moderate (variable tempo)",
        "Recommended epochs: 4320",
        "Confidence: 0.",
        "Recommendation of 4320 epochs is based on:",
        "Dataset size: very_small",
    ):
        assert needle in text


@pytest.mark.parametrize("hours", [0.0, 1e-6])
def test_empty_corpus_does_not_crash(hours):
    plan = recommend(profile(hours, None, not_assessed=FLAG_NAMES, n_utterances=0), CONFIG)
    assert plan.epochs == 4000 and 0.0 <= plan.confidence <= 1.0
