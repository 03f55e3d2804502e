"""F0 error of a synthesis against its recording: RMSE in cents and voicing decision error.

F0 comes from Praat's autocorrelation pitch tracker (parselmouth), sampled every
spectral.FRAME_PERIOD_MS so the frames line up with the mel-cepstra; the frame pairs are those
of the MCD's DTW path. RMSE in cents = sqrt(mean((1200 * log2(f_syn / f_ref))^2)) over pairs
voiced in both; voicing decision error = share of pairs where one is voiced and the other not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smart_tuner.evaluate.spectral import FRAME_PERIOD_MS, DtwMatch

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 600.0
MIN_PERIODS = 3  # Praat's autocorrelation needs a window of 3 periods of the pitch floor


def f0_track(wav: np.ndarray, sample_rate: int, n_frames: int | None = None) -> np.ndarray:
    """F0 [Hz] at t = i * FRAME_PERIOD_MS (0 = unvoiced), `n_frames` long (default: the audio's)."""
    import parselmouth

    if n_frames is None:
        n_frames = int(len(wav) / sample_rate * 1000.0 / FRAME_PERIOD_MS) + 1
    if len(wav) < MIN_PERIODS * sample_rate / PITCH_FLOOR_HZ:
        return np.zeros(n_frames)  # too short to hold three periods of the lowest pitch
    sound = parselmouth.Sound(np.asarray(wav, dtype=np.float64), sampling_frequency=sample_rate)
    pitch = sound.to_pitch(
        time_step=FRAME_PERIOD_MS / 1000.0,
        pitch_floor=PITCH_FLOOR_HZ,
        pitch_ceiling=PITCH_CEILING_HZ,
    )
    values = pitch.selected_array["frequency"]
    times = pitch.xs()
    wanted = np.arange(n_frames) * FRAME_PERIOD_MS / 1000.0
    if len(times) == 0:
        return np.zeros(n_frames)
    nearest = np.clip(np.searchsorted(times, wanted), 0, len(times) - 1)
    left = np.clip(nearest - 1, 0, len(times) - 1)
    closer = np.where(np.abs(times[left] - wanted) < np.abs(times[nearest] - wanted), left, nearest)
    f0 = values[closer]
    # Outside the analysed span (Praat leaves half a window at each edge) is unvoiced.
    f0[np.abs(times[closer] - wanted) > FRAME_PERIOD_MS / 1000.0] = 0.0
    return np.nan_to_num(f0)


@dataclass
class PitchScore:
    f0_rmse_cents: float | None  # None when no frame pair is voiced in both
    voicing_error: float
    voiced_pairs: int


def pitch_score(reference_f0: np.ndarray, synthesis_f0: np.ndarray, match: DtwMatch) -> PitchScore:
    """Compare two F0 tracks over the DTW frame pairs (indices beyond a track are unvoiced)."""
    ref = _take(reference_f0, match.reference_index)
    syn = _take(synthesis_f0, match.synthesis_index)
    ref_voiced, syn_voiced = ref > 0, syn > 0
    both = ref_voiced & syn_voiced
    vde = float(np.mean(ref_voiced != syn_voiced)) if len(ref) else 0.0
    if not both.any():
        return PitchScore(None, vde, 0)
    cents = 1200.0 * np.log2(syn[both] / ref[both])
    return PitchScore(float(np.sqrt(np.mean(cents**2))), vde, int(both.sum()))


def _take(track: np.ndarray, index: np.ndarray) -> np.ndarray:
    padded = np.concatenate([track, [0.0]])
    return padded[np.minimum(index, len(track))]
