"""MOS estimate, recogniser and speaker encoder on real audio (the demo corpora, festival)."""

import subprocess
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from smart_tuner.evaluate import intelligibility, naturalness, speaker

DEMO = Path(__file__).resolve().parents[2] / "smart_tuner" / "demo_corpus"


def recording(language: str, index: int) -> tuple[np.ndarray, int]:
    wav, sr = sf.read(sorted((DEMO / language / "wavs").glob("*.flac"))[index], dtype="float32")
    return wav, sr


def test_p808_features_equal_speechmos_librosa_recipe():
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    reference = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=321, hop_length=160, n_mels=120)
    expected = ((librosa.power_to_db(reference, ref=np.max) + 40) / 40).T
    np.testing.assert_allclose(naturalness.p808_features(x), expected, atol=1e-4)


def test_noise_lowers_the_mos_estimate():
    wav, sr = recording("en", 0)
    noisy = wav + 0.05 * np.random.default_rng(0).standard_normal(len(wav)).astype(np.float32)
    clean, dirty = naturalness.naturalness(wav, sr), naturalness.naturalness(noisy, sr)
    assert 1.0 <= dirty.p808 < clean.p808 <= 5.0
    assert dirty.ovrl < clean.ovrl
    assert dirty.bak < clean.bak


def test_speaker_embedding_equals_resemblyzers_own():
    from resemblyzer import VoiceEncoder, preprocess_wav

    wav, sr = recording("en", 1)
    ours = speaker.embed(wav, sr)
    theirs = VoiceEncoder("cpu", verbose=False).embed_utterance(preprocess_wav(wav, sr))
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_same_recording_is_similarity_one_and_same_voice_beats_another_voice():
    en = [speaker.embed(*recording("en", i)) for i in range(3)]
    ru = speaker.embed(*recording("ru", 0))
    assert speaker.cosine(en[0], en[0]) == pytest.approx(1.0, abs=1e-6)
    same_voice = speaker.cosine(en[0], np.mean(en[1:], axis=0))
    other_voice = speaker.cosine(ru, np.mean(en[1:], axis=0))
    assert same_voice > other_voice + 0.05


def test_recogniser_hears_a_clean_english_sentence(tmp_path):
    sentences = ["the weather is nice today", "i would like a cup of coffee"]
    rates = []
    for k, text in enumerate(sentences):
        wav_path = tmp_path / f"s{k}.wav"
        subprocess.run(
            ["text2wave", "-o", str(wav_path)], input=text, text=True, check=True, timeout=60
        )
        wav, sr = sf.read(wav_path, dtype="float32")
        rates.append(intelligibility.transcribe_and_score(wav, sr, text).wer)
    assert np.mean(rates) <= 0.2


def test_error_rates_count_words_and_characters():
    assert intelligibility.error_rates("The cat sat.", "the cat sat") == (0.0, 0.0)
    wer, cer = intelligibility.error_rates("the cat sat", "the bat sat")
    assert wer == pytest.approx(1 / 3) and 0 < cer < wer
    assert intelligibility.error_rates("the cat", "") == (1.0, 1.0)


def test_russian_is_not_assessed_with_a_reason():
    reason = intelligibility.not_assessed("ru")
    assert reason is not None and "ru" in reason
    assert intelligibility.not_assessed("en") is None
