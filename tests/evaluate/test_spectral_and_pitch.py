import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.evaluate import pitch, spectral
from tests.evaluate.signals import glide, vowels

SR = 16000


def mcd(a: np.ndarray, b: np.ndarray) -> float:
    return spectral.spectral_score(a, b, SR).mcd_db


def test_identical_signals_have_zero_distortion_and_unit_length_ratio():
    wav = vowels("aeiou")
    score = spectral.spectral_score(wav, wav.copy(), SR)
    assert score.mcd_db == pytest.approx(0.0, abs=1e-9)
    assert score.length_ratio == 1.0


def test_added_noise_raises_the_distortion_step_by_step():
    wav = vowels("aeiou")
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(len(wav)).astype(np.float32)
    values = [mcd(wav, wav + level * noise) for level in (0.003, 0.03, 0.3)]
    assert 0.0 < values[0] < values[1] < values[2]
    assert values[2] > 5.0


def test_a_slower_copy_aligned_by_dtw_keeps_the_distortion_low():
    wav = vowels("aeiou", seconds_each=0.2)
    slower = vowels("aeiou", seconds_each=0.3)  # the same vowels, 1.5 x as long
    other = vowels("uoiea", seconds_each=0.2)  # other vowels in the same time
    stretched = spectral.spectral_score(wav, slower, SR)
    assert stretched.length_ratio == pytest.approx(1.5, rel=0.01)
    assert stretched.mcd_db < 2.0
    assert mcd(wav, other) > 3 * stretched.mcd_db


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.5))
def test_distortion_is_never_negative_and_zero_only_for_the_same_signal(seed, seconds):
    rng = np.random.default_rng(seed)
    a = (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    b = (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    assert mcd(a, a) == pytest.approx(0.0, abs=1e-9)
    assert mcd(a, b) > 0.0


def test_a_tone_with_a_known_contour_gives_that_f0_and_no_error():
    wav = glide(110.0, 220.0, 1.0)
    f0 = pitch.f0_track(wav, SR)
    times = np.arange(len(f0)) * spectral.FRAME_PERIOD_MS / 1000.0
    expected = 110.0 + 110.0 * times
    voiced = f0 > 0
    assert voiced.mean() > 0.9
    cents = 1200 * np.log2(f0[voiced] / expected[voiced])
    assert np.abs(cents).max() < 10.0

    path = spectral.DtwMatch(np.arange(len(f0)), np.arange(len(f0)))
    same = pitch.pitch_score(f0, f0, path)
    assert same.f0_rmse_cents == pytest.approx(0.0, abs=1e-9)
    assert same.voicing_error == 0.0


def test_a_semitone_higher_is_a_hundred_cents_off():
    low, high = glide(150.0, 150.0, 0.6), glide(150.0 * 2 ** (1 / 12), 150.0 * 2 ** (1 / 12), 0.6)
    f_low, f_high = pitch.f0_track(low, SR), pitch.f0_track(high, SR)
    path = spectral.DtwMatch(np.arange(len(f_low)), np.arange(len(f_low)))
    score = pitch.pitch_score(f_low, f_high, path)
    assert score.f0_rmse_cents == pytest.approx(100.0, abs=5.0)


def test_voicing_disagreement_is_counted_and_silence_has_no_f0_error():
    wav = glide(120.0, 120.0, 0.5)
    f0 = pitch.f0_track(wav, SR)
    silent = pitch.f0_track(np.zeros_like(wav), SR)
    path = spectral.DtwMatch(np.arange(len(f0)), np.arange(len(f0)))
    score = pitch.pitch_score(f0, silent, path)
    assert score.f0_rmse_cents is None
    assert score.voicing_error == pytest.approx((f0 > 0).mean())


def test_audio_too_short_for_a_pitch_window_is_unvoiced_not_an_error():
    assert not pitch.f0_track(np.ones(300, dtype=np.float32) * 0.1, SR).any()


def test_only_the_band_both_signals_hold_counts():
    """A 16 kHz recording played at 22.05 kHz is empty above 8 kHz; whatever a vocoder puts
    there is not the acoustic model's doing, and must not swamp the distance."""
    import soxr

    rate = 22050
    recording = soxr.resample(vowels("aeiou"), SR, rate)  # nothing above 8 kHz
    rng = np.random.default_rng(0)
    hiss = rng.standard_normal(len(recording))
    spectrum = np.fft.rfft(hiss)
    spectrum[np.fft.rfftfreq(len(hiss), 1 / rate) < 8500] = 0  # only above the band
    hiss = np.fft.irfft(spectrum, len(hiss)).astype(np.float32)
    hiss *= 0.05 * np.abs(recording).max() / np.abs(hiss).max()
    synthesis = recording + hiss
    band = spectral.shared_band(mel_fmax=8000.0, recording_rate=SR)
    assert band == 8000.0
    whole = spectral.spectral_score(recording, synthesis, rate).mcd_db
    shared = spectral.spectral_score(recording, synthesis, rate, band).mcd_db
    assert shared < 1.0 and whole > 3.0
    # noise inside the band still counts
    inside = recording + 0.05 * np.abs(recording).max() * rng.standard_normal(len(recording))
    assert spectral.spectral_score(recording, inside.astype(np.float32), rate, band).mcd_db > 3.0
    assert spectral.shared_band(8000.0, 44100) == 8000.0
    assert spectral.shared_band(8000.0, 8000) == 4000.0
