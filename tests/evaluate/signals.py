"""Speech-like test signals: a glottal pulse train through formant resonators, vowel by vowel."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

# (F1, F2, F3) in Hz of a few vowels.
VOWELS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "e": (530, 1840, 2480),
    "o": (570, 840, 2410),
}


def vowels(
    sequence: str,
    sr: int = 16000,
    seconds_each: float = 0.2,
    f0: float = 120.0,
    seed: int = 0,
) -> np.ndarray:
    """The vowels of `sequence`, each `seconds_each` long, on a steady `f0`."""
    rng = np.random.default_rng(seed)
    pieces = []
    for vowel in sequence:
        n = int(seconds_each * sr)
        source = np.zeros(n)
        source[:: int(sr / f0)] = 1.0
        out = source
        for formant in VOWELS[vowel]:
            r = np.exp(-np.pi * 80.0 / sr)
            theta = 2 * np.pi * formant / sr
            out = lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], out)
        pieces.append(out)
    wav = np.concatenate(pieces)
    wav = wav / np.abs(wav).max() * 0.5 + 1e-4 * rng.standard_normal(len(wav))
    return wav.astype(np.float32)


def glide(f_start: float, f_end: float, seconds: float, sr: int = 16000) -> np.ndarray:
    """A harmonic tone whose F0 moves linearly from f_start to f_end."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = f_start + (f_end - f_start) * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * wav).astype(np.float32)
