from __future__ import annotations

from collections.abc import Iterator

import librosa
import numpy as np
import pytest
import torch
from tiny_tacotron import one_thread

from smart_tuner.config import AudioConfig
from smart_tuner.model import GriffinLim, Vocoder, mel_filterbank


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.mark.parametrize("sr", [22050, 16000])
def test_mel_filterbank_matches_librosa(sr: int) -> None:
    ours = mel_filterbank(sr, 1024, 80, 0.0, 8000.0)
    ref = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)
    assert ours.shape == (80, 513) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_griffin_lim_recovers_a_sine() -> None:
    cfg = AudioConfig()
    sr, hop = cfg.sampling_rate, cfg.hop_length
    n = sr // 2
    wav = 0.5 * torch.sin(2 * torch.pi * 440.0 * torch.arange(n) / sr)
    spec = torch.stft(
        wav,
        cfg.filter_length,
        hop,
        cfg.win_length,
        window=torch.hann_window(cfg.win_length),
        return_complex=True,
    ).abs()
    basis = torch.from_numpy(
        mel_filterbank(sr, cfg.filter_length, cfg.n_mel_channels, cfg.mel_fmin, cfg.mel_fmax)
    )
    log_mel = torch.log(torch.clamp(basis @ spec, min=1e-5))

    vocoder = GriffinLim(cfg, n_iters=30)
    assert isinstance(vocoder, Vocoder) and vocoder.sample_rate == sr
    audio = vocoder(log_mel)
    assert audio.dtype == np.float32 and np.all(np.isfinite(audio))
    assert abs(len(audio) - n) <= hop
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak_hz = np.argmax(spectrum) * sr / len(audio)
    assert abs(peak_hz - 440.0) < 25.0, peak_hz


@pytest.mark.parametrize("n_frames", [1, 2, 3])
def test_griffin_lim_handles_very_short_mels(n_frames: int) -> None:
    cfg = AudioConfig()
    audio = GriffinLim(cfg, n_iters=2)(torch.full((cfg.n_mel_channels, n_frames), -5.0))
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) >= 1
    assert np.all(np.isfinite(audio))
