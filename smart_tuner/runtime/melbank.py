"""Slaney-style mel filterbank, numerically equal to ``librosa.filters.mel`` defaults.

Written here so package code does not depend on librosa; NVIDIA/tacotron2 (and so its
checkpoints and WaveGlow/HiFi-GAN vocoders) uses exactly this filterbank.
"""

from __future__ import annotations

import numpy as np

# Slaney's Auditory Toolbox mel scale: linear below 1 kHz (200/3 Hz per mel), log above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """Triangular mel filters [n_mels, n_fft // 2 + 1], float32, for a magnitude STFT.

    Filters are spaced evenly on the Slaney mel scale between fmin and fmax (None: sr / 2) and
    area-normalised (each triangle scaled by 2 / its width in Hz), so a band's weight does not
    grow with its width.
    """
    if fmax is None:
        fmax = sr / 2.0
    if not 0.0 <= fmin < fmax:
        raise ValueError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # [n_mels+2]
    widths = np.diff(edges)
    # Distance of every FFT bin from every edge: [n_mels + 2, n_bins].
    ramps = edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)
