"""The expressiveness and accent detectors on plain numbers and tiny synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_corpora import demo_wav
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.analysis import accent, asr, expressiveness
from smart_tuner.analysis.measures import FileStats, measure_samples, slope_spread
from smart_tuner.config import Config

CFG = Config().analysis
REF = expressiveness.REFERENCE


def corpus(
    scale: float = 1.0, n: int = 12, variation: float = 1.0
) -> tuple[list[FileStats], list[float]]:
    """Utterances whose within-utterance measures are `scale` times neutral read speech and
    whose between-utterance variation is `variation` times that of neutral read speech."""

    def spread(k: int, width: float) -> float:  # cycles -width/2, 0, +width/2: P90-P10 = width
        return width * ((k % 3) - 1) / 2

    stats = [
        FileStats(
            sha1=str(k),
            speech_seconds=2.0,
            active_dbfs=-20.0 + spread(k, variation * REF["level_variation"]),
            f0_median_st=0.0,
            f0_spread_st=REF["f0_spread"]
            * scale
            * (1 + spread(k, variation * REF["spread_variation"])),
            f0_range_st=REF["f0_range"] * scale,
            f0_slope_sd=REF["f0_slope"] * scale,
            loudness_sd_db=REF["energy"] * scale,
            pause_ratio=0.1 + variation * REF["pause_variation"] * (k % 2),
        )
        for k in range(n)
    ]
    rates = [14.0 * (1 + spread(k, variation * REF["rate_variation"])) for k in range(n)]
    return stats, rates


def test_neutral_read_speech_scores_near_zero_and_is_not_flagged():
    flag = expressiveness.emotion_flag(*corpus(1.0), CFG)
    assert flag.assessed and not flagged(flag)
    assert abs(flag.value) < 0.15
    for label in ("F0 spread", "F0 range", "F0 slope variety", "loudness movement"):
        assert label in flag.evidence  # the components are reported


def flagged(flag) -> bool:
    return bool(flag.flagged)


def test_mixed_calm_and_emotional_styles_are_flagged():
    flag = expressiveness.emotion_flag(*corpus(1.0, variation=3.0), CFG)
    assert flag.flagged and flag.value > CFG.complexity_thresholds.emotional_speech
    assert "F0-spread variation between utterances" in flag.evidence


def test_a_consistently_lively_reader_is_not_called_emotional():
    # twice the neutral F0 movement in every utterance, but no departure from the speaker's own
    # style between utterances: a lively reader (or a livelier voice), not an emotional corpus
    lively = expressiveness.emotion_flag(*corpus(2.0), CFG)
    neutral = expressiveness.emotion_flag(*corpus(1.0), CFG)
    assert lively.value > neutral.value + 0.2  # it does count, a little
    assert not lively.flagged


def test_too_few_voiced_utterances_is_not_assessed():
    flag = expressiveness.emotion_flag(*corpus(3.0, n=5), CFG)
    assert not flag.assessed and "too few" in flag.reason


@settings(max_examples=40, deadline=None)
@given(
    base=st.floats(0.4, 2.0),
    factor=st.floats(1.05, 3.0),  # inside LOG_CLIP: a clipped component stops counting
    which=st.sampled_from(["f0_spread_st", "f0_range_st", "f0_slope_sd", "loudness_sd_db"]),
)
def test_score_rises_with_every_component(base, factor, which):
    stats, rates = corpus(base)
    before = expressiveness.score(expressiveness.components(stats, rates))
    for s in stats:
        setattr(s, which, getattr(s, which) * factor)
    after = expressiveness.score(expressiveness.components(stats, rates))
    assert after > before


def test_slope_variety_grows_with_intonation_and_ignores_octave_jumps():
    t = np.arange(200) * 0.02
    flat = 120.0 * np.ones_like(t)
    calm = 120.0 * 2 ** (1.0 * np.sin(2 * np.pi * t) / 12)
    lively = 120.0 * 2 ** (4.0 * np.sin(2 * np.pi * t) / 12)
    assert slope_spread(flat) == pytest.approx(0.0, abs=1e-9)
    assert slope_spread(lively) > 3 * slope_spread(calm)
    jumpy = flat.copy()
    jumpy[::25] *= 2.0  # tracker octave errors
    assert slope_spread(jumpy) == pytest.approx(0.0, abs=1e-9)


def test_pause_ratio_measures_silence_inside_speech():
    wav = demo_wav("en", "demo_en_0001")
    gap = np.zeros(16000, dtype=np.float32)
    joined = measure_samples(np.concatenate([wav, wav]), 16000)
    paused = measure_samples(np.concatenate([wav, gap, wav]), 16000)
    assert joined.pause_ratio is not None and paused.pause_ratio is not None
    span = 2 * len(wav) / 16000
    assert paused.pause_ratio - joined.pause_ratio == pytest.approx(1.0 / (span + 1.0), abs=0.06)
    assert paused.f0_range_st is not None and paused.f0_slope_sd is not None


def test_accent_abstains_only_on_bad_audio_and_names_the_measure():
    assert accent.audio_problem(30.0, 85.0, CFG) is None
    noisy = accent.audio_problem(8.0, 85.0, CFG)
    assert noisy and "SNR" in noisy
    poor = accent.audio_problem(30.0, 35.0, CFG)
    assert poor and "quality" in poor
    assert accent.audio_problem(None, None, CFG) == "no speech to transcribe"


def test_clean_audio_with_a_lost_recogniser_is_still_judged():
    refs = ["i think so", "think about it", "we think alike", "they think", "think twice"]
    heard = [r.replace("think", "sink").replace("about", "a").split() for r in refs]
    heard = [h + ["uh", "the"] for h in heard]  # a recogniser that also inserts words
    evidence = asr.accent_evidence(list(zip(refs, heard, strict=True)), 3, 0.2)
    assert evidence.wer > CFG.accent.max_wer
    flag = accent.accent_flag(evidence, "", CFG)
    assert flag.assessed and flag.flagged
    assert "TH->S (5x in 5 utterances)" in flag.evidence and "WER" in flag.evidence
    assert evidence.near_miss_share > 0.2  # think -> sink is one phone away


def test_phone_loop_substitutions_count_only_when_they_recur():
    refs = ["i think so", "think about it", "we think alike", "they think", "think twice"]
    lexicon = asr.load_pronunciations({w for r in refs for w in r.split()})
    expected = [[p for w in r.split() for p in lexicon[w]] for r in refs]
    accented = [["S" if p == "TH" else p for p in seq] for seq in expected]
    pairs = [(r, r.split()) for r in refs]  # the words were recognised right
    evidence = asr.accent_evidence(pairs, 3, 0.2, phones=accented)
    assert [(s.ref, s.hyp) for s in evidence.phone_systematic] == [("TH", "S")]
    assert evidence.share == 0.0 and evidence.phone_share > 0.1
    assert accent.accent_flag(evidence, "", CFG).flagged
    rng = np.random.default_rng(1)
    inventory = sorted({p for seq in expected for p in seq})
    random = [
        [p if rng.random() > 0.2 else str(rng.choice(inventory)) for p in seq] for seq in expected
    ]
    evidence = asr.accent_evidence(pairs, 3, 0.2, phones=random)
    assert evidence.phone_systematic == [] and evidence.phone_error_rate > 0.05
    assert not accent.accent_flag(evidence, "", CFG).flagged
