"""The estimators on signals with known properties, and the scoring rules on plain numbers."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from analysis_corpora import demo_wav

from smart_tuner.analysis import asr, dnsmos
from smart_tuner.analysis.measures import (
    WADA_G,
    FileStats,
    bandwidth_hz,
    measure_samples,
    wada_snr,
    wada_table,
)
from smart_tuner.analysis.scoring import (
    Item,
    classify_skip,
    file_problems,
    foreign_chars,
    linear_score,
    quality_components,
    quality_percent,
    tempo_flag,
)
from smart_tuner.config import Config
from smart_tuner.data.hygiene import drop_reasons

CONFIG = Config()


def test_wada_table_matches_its_recipe():
    fresh = wada_table(n=200_000, seed=1)
    assert np.all(np.diff(WADA_G) >= 0)
    assert np.max(np.abs(fresh[:60] - np.array(WADA_G[:60]))) < 0.01


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_wada_snr_on_gamma_speech_in_white_noise(snr):
    rng = np.random.default_rng(0)
    speech = rng.gamma(0.4, 1.0, 200_000) * rng.choice([-1.0, 1.0], 200_000)
    noise = rng.standard_normal(200_000) * np.sqrt(np.mean(speech**2) / 10 ** (snr / 10))
    assert abs(wada_snr(speech + noise) - snr) < 1.5


def test_measures_see_clipping_dc_silence_and_bandwidth():
    wav = demo_wav("en", "demo_en_0001")
    clean = measure_samples(wav, 16000)
    assert clean.clipped_fraction == 0.0 and abs(clean.dc_offset) < 1e-3
    assert clean.bandwidth_hz > 7000 and clean.speech_ratio > 0.8
    assert clean.f0_median_st is not None and 60 < 100 * 2 ** (clean.f0_median_st / 12) < 160
    clipped = measure_samples(np.clip(wav * 5, -1, 1), 16000)
    assert clipped.clipped_fraction > 0.01
    assert measure_samples(wav + 0.1, 16000).dc_offset == pytest.approx(0.1, abs=0.01)
    padded = measure_samples(np.concatenate([np.zeros(24000), wav, np.zeros(8000)]), 16000)
    assert padded.lead_silence == pytest.approx(1.5, abs=0.2)
    assert padded.trail_silence == pytest.approx(0.5, abs=0.2)
    narrow = soxr.resample(soxr.resample(wav, 16000, 8000), 8000, 16000)
    assert bandwidth_hz(narrow, 16000) < 4200
    silent = measure_samples(np.zeros(16000, dtype=np.float32), 16000)
    assert silent.speech_seconds == 0.0
    stereo = measure_samples(np.stack([wav, wav], axis=1), 16000)
    assert stereo.channels == 2


def test_linear_score_runs_either_way_and_clips():
    assert linear_score(5, 5, 30) == 0 and linear_score(30, 5, 30) == 100
    assert linear_score(17.5, 5, 30) == 50 and linear_score(99, 5, 30) == 100
    assert linear_score(0.0, 0.2, 0.0) == 100 and linear_score(0.1, 0.2, 0.0) == 50


def stats(**kw) -> FileStats:
    base = dict(
        sha1="x",
        samplerate=22050,
        channels=1,
        duration=3.0,
        active_dbfs=-20.0,
        snr_db=35.0,
        speech_seconds=2.5,
        speech_ratio=0.9,
        bandwidth_hz=10000.0,
        f0_median_st=0.0,
        f0_spread_st=1.5,
    )
    base.update(kw)
    return FileStats(**base)


def test_quality_is_a_weighted_mean_of_documented_components():
    good = [stats(sha1=str(i)) for i in range(10)]
    comps = quality_components(good, None, "not installed", CONFIG)
    assert {c.name for c in comps if c.score is None} == {"dnsmos_ovrl"}
    assert quality_percent(comps) == 100.0  # remaining weights renormalised
    noisy = [stats(sha1=str(i), snr_db=10.0) for i in range(10)]
    comps = quality_components(noisy, None, "", CONFIG)
    snr = next(c for c in comps if c.name == "snr")
    assert snr.score == 20.0
    expected = (0.25 * 20 + (0.70 - 0.25) * 100) / 0.70
    assert quality_percent(comps) == pytest.approx(expected, abs=0.1)


def test_tempo_flag_compares_spread_with_the_threshold():
    steady = tempo_flag([14.0 + 0.1 * (i % 5) for i in range(20)], CONFIG.analysis)
    assert steady.assessed and not steady.flagged and steady.threshold == 0.35
    varied = tempo_flag([8.0, 20.0] * 10, CONFIG.analysis)
    assert varied.flagged
    few = tempo_flag([14.0] * 3, CONFIG.analysis)
    assert not few.assessed and "too few" in few.reason


def test_accent_evidence_prefers_recurring_substitutions():
    refs = ["i think so", "think about it", "we think alike", "they think", "think twice"]
    accented = [(r, r.replace("think", "sink").split()) for r in refs]
    evidence = asr.accent_evidence(accented, min_utterances=3, min_rate=0.2)
    assert [(s.ref, s.hyp) for s in evidence.systematic] == [("TH", "S")]
    assert evidence.share > 0.03
    # the same number of errors scattered over different sounds is not an accent
    scattered = [
        ("i think so", ["i", "think", "sew"]),
        ("think about it", ["think", "about", "eat"]),
        ("we think alike", ["me", "think", "alike"]),
        ("they think", ["day", "think"]),
        ("think twice", ["think", "ice"]),
    ]
    evidence = asr.accent_evidence(scattered, min_utterances=3, min_rate=0.2)
    assert evidence.systematic == [] and evidence.wer > 0.1


def test_alignment():
    ops = asr.align(["a", "b", "c"], ["a", "x", "c", "d"])
    assert [op for op, _, _ in ops] == ["ok", "sub", "ok", "ins"]


def test_dnsmos_windows_fill_about_nine_seconds_up_to_the_cap():
    groups = dnsmos.windows([3.0] * 20, max_seconds=20.0)
    assert groups[0] == [0, 1, 2, 3] and sum(len(g) for g in groups) == 7


def test_text_checks_and_skip_reasons():
    assert foreign_chars("The cat sat, didn't it? \u2014 \u00abyes\u00bb", "en") == []
    assert foreign_chars("caf\u00e9 #1", "en") == ["\u00e9", "#"]
    assert foreign_chars("\u041f\u0440\u0438\u0432\u0435\u0442, hello", "ru") == list("helo")
    assert classify_skip("duplicate id (first seen at m:1)") == "duplicate_id"
    assert classify_skip("path leaves the dataset folder: ../x.wav") == "path_outside_dataset"
    assert classify_skip("unreadable or not audio (Format not recognised)") == "unreadable"


def test_file_problems_from_numbers():
    items = [
        Item(f"u{i}", f"/d/u{i}.wav", "Sixteen letters!", stats(sha1=str(i)), 16) for i in range(10)
    ]
    items.append(Item("dup", "/d/dup.wav", "Sixteen letters!", stats(sha1="3"), 16))
    items.append(Item("quiet", "/d/q.wav", "Sixteen letters!", stats(active_dbfs=-70.0), 16))
    items.append(Item("hiss", "/d/h.wav", "Sixteen letters!", stats(sha1="h", snr_db=5.0), 16))
    brisk = "Sixteen letters, and eight."  # 1.7x the corpus's pace: a verdict of keep
    items.append(Item("brisk", "/d/b.wav", brisk, stats(sha1="b"), len(brisk)))
    rushed = "Sixteen letters, sixteen letters, and more."  # 2.7x: the text cannot match
    items.append(Item("rushed", "/d/r.wav", rushed, stats(sha1="r"), len(rushed)))
    problems = file_problems(items, "en", CONFIG)
    found = {(p.item, p.problem, p.action) for p in problems}
    assert found == {
        ("dup", "duplicate_audio", "drop"),
        ("quiet", "silent", "drop"),
        ("hiss", "noisy", "drop"),
        ("brisk", "unusual_pace", "keep"),
        ("rushed", "text_audio_mismatch", "drop"),
    }
    assert drop_reasons(problems).keys() == {"dup", "quiet", "hiss", "rushed"}  # keep: trained
