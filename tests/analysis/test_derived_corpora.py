"""The analyser finds properties planted in small corpora derived from the demo corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from analysis_corpora import (
    add_noise,
    build,
    config,
    demo_lines,
    demo_wav,
    exaggerate,
    shift,
    stretch,
)

from smart_tuner.analysis import DatasetProfile, analyze_dataset
from smart_tuner.analysis.profile import QUALITY_CLASSES


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analysis-cache")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("clean") / "ds")


def analyze(path: Path, cache: Path, cfg=None, **kwargs) -> DatasetProfile:
    return analyze_dataset(path, cfg or config(), cache_dir=cache, **kwargs)


def test_clean_english_subset(clean, cache):
    cfg = config(
        analysis__sampling__dnsmos_max_seconds=20.0, analysis__sampling__asr_max_utterances=6
    )
    p = analyze(clean, cache, cfg, workers=2)
    assert p.n_utterances == 20 and p.language == "en"
    assert p.size_class == "very_small"
    assert p.quality_percent is not None and p.quality_percent > 70
    assert all(c.assessed for c in p.quality_components)
    assert all(f.assessed for f in p.complexity), [f.reason for f in p.complexity]
    assert p.flags_set == [] and p.complexity_level == "simple"
    assert p.problems == []
    assert 0 < p.samples["dnsmos"]["seconds"] <= 20.0 + 4.0  # capped, seeded sample
    assert p.samples["asr"]["utterances"] == 6
    accent = p.flag("accent")
    assert accent is not None and "PocketSphinx" in accent.evidence
    # typed and JSON-serialisable, both ways
    data = json.loads(json.dumps(p.to_dict()))
    assert DatasetProfile.from_dict(data).to_dict() == p.to_dict()


def test_noise_at_a_known_snr_lowers_quality(clean, cache, tmp_path):
    cfg = config(analysis__sampling__dnsmos_max_seconds=20.0)
    before = analyze(clean, cache, cfg)
    after = analyze(build(tmp_path / "noisy", transforms=[add_noise(10.0)]), cache, cfg)
    snr = {c.name: c for c in after.quality_components}["snr"]
    assert snr.value is not None and 2.0 < snr.value < 14.0  # WADA reads 10 dB noise as such
    assert after.quality_percent < before.quality_percent - 15
    assert QUALITY_CLASSES.index(after.quality_class) > QUALITY_CLASSES.index(before.quality_class)
    dnsmos = {c.name: c for c in after.quality_components}["dnsmos_ovrl"]
    dnsmos_before = {c.name: c for c in before.quality_components}["dnsmos_ovrl"]
    assert dnsmos.value < dnsmos_before.value


def test_heavy_noise_is_not_called_an_accent(cache, tmp_path):
    cfg = config(analysis__sampling__asr_max_utterances=6)
    p = analyze(build(tmp_path / "loud", n=12, transforms=[add_noise(0.0)]), cache, cfg)
    accent = p.flag("accent")
    assert accent is not None and not accent.flagged
    assert not accent.assessed and "too poor" in accent.reason


def test_time_stretched_copies_set_variable_tempo(clean, cache, tmp_path):
    original = analyze(clean, cache).flag("variable_tempo")
    assert original.assessed and not original.flagged
    mixed = build(tmp_path / "tempo", n=10, transforms=[None, stretch(0.6), stretch(1.6)])
    flag = analyze(mixed, cache).flag("variable_tempo")
    assert flag.flagged and flag.value >= flag.threshold > original.value
    assert flag.threshold == config().analysis.complexity_thresholds.variable_tempo  # from config


def test_pitch_shifted_copies_set_wide_pitch_range(clean, cache, tmp_path):
    original = analyze(clean, cache).flag("wide_pitch_range")
    assert original.assessed and not original.flagged
    mixed = build(tmp_path / "pitch", n=10, transforms=[None, shift(6.0), shift(-6.0)])
    flag = analyze(mixed, cache).flag("wide_pitch_range")
    assert flag.flagged and flag.value >= 10.0  # +-6 semitones around the voice


def test_exaggerated_intonation_sets_emotional_speech(clean, cache, tmp_path):
    original = analyze(clean, cache).flag("emotional_speech")
    assert original.assessed and not original.flagged
    lively = build(tmp_path / "lively", n=10, transforms=[exaggerate(2.5)])
    p = analyze(lively, cache)
    flag = p.flag("emotional_speech")
    assert flag.flagged and flag.value > original.value + 0.3  # measured 0.62 vs 0.21
    assert "F0 range" in flag.evidence and "loudness movement" in flag.evidence
    assert not p.flag("wide_pitch_range").flagged  # same median pitch, more movement


def test_russian_corpus_gets_accent_not_assessed(cache, tmp_path):
    cfg = config(analysis__sampling__asr_max_utterances=6)
    p = analyze(build(tmp_path / "ru", n=12, language="ru"), cache, cfg)
    assert p.language == "ru"
    accent = p.flag("accent")
    assert not accent.assessed and "no speech recogniser" in accent.reason
    assert all(f.assessed for f in p.complexity if f.name != "accent")
    assert p.to_dict()["complexity"]["accent"] == {"assessed": False, "reason": accent.reason}


def test_rerun_only_analyses_new_or_changed_files(cache, tmp_path):
    root = build(tmp_path / "c", n=6)
    first = analyze(root, tmp_path / "own-cache")
    assert first.cache["files_measured"] == 6
    second = analyze(root, tmp_path / "own-cache")
    assert second.cache["files_measured"] == 0 and second.cache["files_cached"] == 6
    uid = demo_lines("en", 1)[0][0]
    sf.write(root / "wavs" / f"{uid}_0.wav", 0.5 * demo_wav("en", uid), 16000)
    third = analyze(root, tmp_path / "own-cache")
    assert third.cache["files_measured"] == 1


def write(path: Path, wav: np.ndarray, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.astype(np.float32), sr)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A `path|text` corpus: 10 good utterances and one of each kind of problem."""
    root = tmp_path / "broken"
    good = demo_lines("en", 12)
    lines = []
    for uid, text in good[:10]:
        write(root / "wavs" / f"{uid}.wav", demo_wav("en", uid))
        lines.append(f"wavs/{uid}.wav|{text}")
    uid, text = good[10]
    wav = demo_wav("en", uid)
    other_uid, other_text = good[11]
    other = demo_wav("en", other_uid)
    rng = np.random.default_rng(0)
    cases = {
        "silent": (np.zeros(32000), text),
        "clipped": (np.clip(wav * 6.0, -1, 1), text),
        "noisy": (add_noise(-3.0)(wav, 0), text),
        "dc": (wav * 0.8 + 0.1, text),
        "padded": (np.concatenate([np.zeros(32000), wav]), text),
        "short": (wav[:3200], "Hi."),
        "mismatch": (wav, " ".join([text] * 4)),
        "odd_chars": (other, other_text + " #café 😀"),
        "mojibake": (other * 0.9, "The cafÃ© was closed."),
        "dup_audio": (demo_wav("en", good[0][0]), good[0][1]),
    }
    for name, (audio, words) in cases.items():
        write(root / "wavs" / f"{name}.wav", audio)
        lines.append(f"wavs/{name}.wav|{words}")
    write(root / "wavs" / "stereo.wav", np.stack([other * 0.7, other * 0.7], axis=1))
    lines.append(f"wavs/stereo.wav|{other_text}")
    write(root / "wavs" / "rate8k.wav", soxr.resample(other * 0.8, 16000, 8000), 8000)
    lines.append(f"wavs/rate8k.wav|{other_text}")
    (root / "wavs" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + rng.bytes(300))
    lines.append("wavs/corrupt.wav|Corrupt file.")
    lines.append("wavs/missing.wav|This file does not exist.")
    lines.append(f"wavs/{good[1][0]}.wav|{good[1][1]}")  # same path twice: duplicate id
    write(tmp_path / "outside.wav", wav)
    lines.append("../outside.wav|Outside the dataset.")
    raw = ("\n".join(lines) + "\n").encode() + b"wavs/bad\xff.wav|Bad \xff bytes\n"
    (root / "list.txt").write_bytes(raw)
    return root / "list.txt"


EXPECTED = {
    "wavs/silent.wav": "silent",
    "wavs/clipped.wav": "clipped",
    "wavs/noisy.wav": "noisy",
    "wavs/dc.wav": "dc_offset",
    "wavs/padded.wav": "long_silence",
    "wavs/short.wav": "too_short",
    "wavs/mismatch.wav": "text_audio_mismatch",
    "wavs/odd_chars.wav": "characters_outside_alphabet",
    "wavs/mojibake.wav": "bad_encoding",
    "wavs/dup_audio.wav": "duplicate_audio",
    "wavs/stereo.wav": "stereo",
    "wavs/rate8k.wav": "wrong_sample_rate",
    "corrupt.wav": "unreadable",
    "missing.wav": "missing_audio",
    "duplicate id": "duplicate_id",
    "outside.wav": "path_outside_dataset",
    "list.txt:": "bad_encoding",
}


def test_broken_files_are_each_reported_and_a_profile_is_still_made(broken, cache, tmp_path):
    from smart_tuner.analysis import write_filelist
    from smart_tuner.data import load_corpus

    before = sorted(p.name for p in broken.parent.rglob("*"))
    p = analyze(broken, cache)
    for needle, kind in EXPECTED.items():
        assert any(
            pr.problem == kind and (needle in pr.item or needle in pr.detail) for pr in p.problems
        ), f"{kind} not reported for {needle}: {[(x.item, x.problem) for x in p.problems]}"
    assert p.n_utterances >= 10 and p.quality_percent is not None
    assert sorted(x.name for x in broken.parent.rglob("*")) == before  # dataset untouched

    out, kept, dropped = write_filelist(p, tmp_path / "broken" / "clean.txt")
    cleaned = load_corpus(out)
    ids = {e.id for e in cleaned.entries}
    assert "wavs/silent.wav" not in ids and "wavs/clipped.wav" not in ids
    assert "wavs/stereo.wav" in ids and "wavs/dc.wav" in ids  # "fix", not "drop"
    assert cleaned.skipped == [] and kept == len(ids)
