"""Per-file signal measures: what one audio file says about the corpus, as plain numbers.

Everything here is a pure function of the samples (no corpus, no config), so the result of
:func:`measure_file` can be cached under the file's content hash. The estimators:

- level, peak, DC offset and clipping (share of samples at full scale);
- speech activity from the WebRTC VAD (30 ms frames at 16 kHz, aggressiveness 2): speech
  seconds, leading/trailing silence and the speech ratio;
- SNR by WADA (Kim & Stern, "Robust signal-to-noise ratio estimation based on waveform
  amplitude distribution analysis", Interspeech 2008): the amplitude statistic
  G = log(mean|z|) - mean(log|z|) is mapped to an SNR through a table for Gamma(0.4) speech in
  Gaussian noise;
- effective bandwidth: the highest frequency whose long-term spectrum is within 50 dB of the
  spectrum's peak, at the file's own sampling rate (so upsampled narrow-band audio shows);
- F0 from Praat's autocorrelation pitch tracker (`praat-parselmouth`) at 8 kHz, 20 ms steps,
  65-600 Hz, summarised per utterance as the median in semitones (re 100 Hz) and a robust
  spread ((P90 - P10) / 2.563, the SD of a normal distribution with that spread), which octave
  jumps barely move;
- expressiveness inside the utterance: the F0 range (P95 - P5, semitones) and the variety of
  F0 slopes (robust SD of the semitone change per second between neighbouring voiced frames);
- loudness movement: SD of the frame level (dB) over speech frames;
- pauses: the share of non-speech frames between the first and the last speech frame.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import parselmouth
import soundfile as sf
import soxr
import webrtcvad

# Bump when any measure changes: cached results of older versions are then ignored.
MEASURES_VERSION = "3"

ANALYSIS_SR = 16000  # VAD, pitch, DNSMOS and ASR all work at 16 kHz
VAD_FRAME = 480  # 30 ms at 16 kHz
VAD_MODE = 2
PITCH_FLOOR = 65.0
PITCH_CEILING = 600.0
PITCH_STEP = 0.02
PITCH_SR = 8000  # F0 <= 600 Hz needs no more; 8 kHz tracks about 1.6x faster
CLIP_LEVEL = 0.999
BANDWIDTH_DB = 50.0
BANDWIDTH_FRAME = 1024
_HANN = np.hanning(BANDWIDTH_FRAME).astype(np.float32)
SNR_MIN_DB = -20.0
SNR_MAX_DB = 100.0
ROBUST_SD = 2.5631  # P90 - P10 of a standard normal distribution

# G(SNR) for SNR = -20 .. 100 dB in 1 dB steps: Gamma(shape 0.4) amplitudes with a random sign
# plus Gaussian noise, Monte Carlo with 2,000,000 samples (seed 0); see `wada_table`.
WADA_G = (
    0.4097, 0.4097, 0.4098, 0.4099, 0.41, 0.4102, 0.4102, 0.4106, 0.411, 0.4115, 0.4121,
    0.4134, 0.415, 0.417, 0.4202, 0.4238, 0.4286, 0.4349, 0.4423, 0.4515, 0.4622, 0.4749,
    0.4895, 0.5055, 0.5238, 0.5439, 0.5657, 0.5896, 0.6143, 0.6403, 0.668, 0.696, 0.7248,
    0.7539, 0.7833, 0.8127, 0.8422, 0.8717, 0.9006, 0.9291, 0.9568, 0.9842, 1.0108, 1.0366,
    1.0616, 1.086, 1.1095, 1.1322, 1.154, 1.1752, 1.1955, 1.215, 1.2337, 1.2519, 1.2689,
    1.2856, 1.3016, 1.3168, 1.3316, 1.3454, 1.3588, 1.3714, 1.3837, 1.3953, 1.4066, 1.4175,
    1.4274, 1.4371, 1.4464, 1.4553, 1.4636, 1.4718, 1.4795, 1.4871, 1.4942, 1.501, 1.5075,
    1.5137, 1.5196, 1.5251, 1.5305, 1.5356, 1.5405, 1.5452, 1.5496, 1.5539, 1.5581, 1.562,
    1.5657, 1.5693, 1.5727, 1.576, 1.5791, 1.582, 1.5848, 1.5875, 1.5901, 1.5926, 1.595,
    1.5972, 1.5994, 1.6014, 1.6034, 1.6052, 1.607, 1.6087, 1.6103, 1.6118, 1.6133, 1.6147,
    1.616, 1.6173, 1.6185, 1.6197, 1.6209, 1.622, 1.623, 1.6239, 1.6249, 1.6257, 1.6265,
)  # fmt: skip
WADA_DB = np.arange(SNR_MIN_DB, SNR_MAX_DB + 1.0)


def wada_table(n: int = 2_000_000, seed: int = 0) -> np.ndarray:
    """Recompute WADA_G (used by the tests; too slow to run on every start)."""
    rng = np.random.default_rng(seed)
    speech = rng.gamma(0.4, 1.0, n) * rng.choice([-1.0, 1.0], n)
    noise = rng.standard_normal(n)
    power = float(np.mean(speech**2))
    table = []
    for db in WADA_DB:
        z = np.abs(speech + noise * np.sqrt(power / 10 ** (db / 10)))
        z = np.maximum(z, 1e-10 * z.max())
        table.append(np.log(z.mean()) - np.mean(np.log(z)))
    return np.asarray(table)


def wada_snr(wav: np.ndarray) -> float:
    """WADA-SNR estimate in dB, clamped to [-20, 100]."""
    a = np.abs(np.asarray(wav, dtype=np.float64))
    peak = float(a.max()) if a.size else 0.0
    if peak <= 0.0:
        return SNR_MIN_DB
    a = np.maximum(a, 1e-10 * peak)
    g = float(np.log(a.mean()) - np.mean(np.log(a)))
    if g <= WADA_G[0]:
        return SNR_MIN_DB
    if g >= WADA_G[-1]:
        return SNR_MAX_DB
    return float(np.interp(g, WADA_G, WADA_DB))


def vad_frames(wav16k: np.ndarray) -> np.ndarray:
    """Boolean speech flag per 30 ms frame (WebRTC VAD)."""
    vad = webrtcvad.Vad(VAD_MODE)
    n = len(wav16k) // VAD_FRAME
    pcm = (np.clip(wav16k[: n * VAD_FRAME], -1.0, 1.0) * 32767.0).astype("<i2")
    raw = pcm.tobytes()
    step = VAD_FRAME * 2
    return np.array(
        [vad.is_speech(raw[i * step : (i + 1) * step], ANALYSIS_SR) for i in range(n)], dtype=bool
    )


def frame_db(wav16k: np.ndarray) -> np.ndarray:
    n = len(wav16k) // VAD_FRAME
    frames = wav16k[: n * VAD_FRAME].reshape(n, VAD_FRAME).astype(np.float64)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def bandwidth_hz(wav: np.ndarray, sr: int) -> float:
    """Highest frequency within BANDWIDTH_DB of the long-term spectrum's peak.

    The long-term spectrum is the mean power of Hann-windowed, non-overlapping 1024-sample
    frames (Welch's estimate without overlap; plain numpy is ~8x faster than scipy here).
    """
    n = len(wav) // BANDWIDTH_FRAME
    if n == 0:
        return 0.0
    frames = np.asarray(wav[: n * BANDWIDTH_FRAME], dtype=np.float32).reshape(n, BANDWIDTH_FRAME)
    power = np.mean(np.abs(np.fft.rfft(frames * _HANN, axis=1)) ** 2, axis=0)
    db = 10.0 * np.log10(power + 1e-20)
    above = np.nonzero(db > db.max() - BANDWIDTH_DB)[0]
    freqs = np.fft.rfftfreq(BANDWIDTH_FRAME, 1.0 / sr)
    return float(freqs[above[-1]]) if above.size else 0.0


def semitones(hz: np.ndarray | float) -> np.ndarray:
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 100.0)


def hz_from_semitones(st: float) -> float:
    return float(100.0 * 2.0 ** (st / 12.0))


def pitch_track(wav16k: np.ndarray) -> np.ndarray:
    """Voiced F0 values (Hz) from Praat's autocorrelation method."""
    f0 = pitch_frames(wav16k)
    return f0[f0 > 0]


def pitch_frames(wav16k: np.ndarray) -> np.ndarray:
    """F0 per 20 ms frame (Hz, 0 where unvoiced) from Praat's autocorrelation method."""
    if len(wav16k) < int(3.0 / PITCH_FLOOR * ANALYSIS_SR) + 1:
        return np.zeros(0)
    wav = soxr.resample(wav16k, ANALYSIS_SR, PITCH_SR, quality="MQ")
    sound = parselmouth.Sound(wav.astype(np.float64), PITCH_SR)
    pitch = sound.to_pitch_ac(
        time_step=PITCH_STEP,
        pitch_floor=PITCH_FLOOR,
        pitch_ceiling=PITCH_CEILING,
        max_number_of_candidates=6,
    )
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def slope_spread(f0: np.ndarray) -> float | None:
    """Robust SD of F0 slopes (semitones per second) between neighbouring voiced frames.

    Octave jumps (more than 6 semitones in one 20 ms step) are tracker errors, not intonation.
    """
    voiced = f0 > 0
    both = voiced[1:] & voiced[:-1]
    if both.sum() < 10:
        return None
    st = semitones(np.where(voiced, f0, 100.0))
    step = np.diff(st)[both]
    step = step[np.abs(step) < 6.0] / PITCH_STEP
    if step.size < 10:
        return None
    p10, p90 = np.percentile(step, [10, 90])
    return float((p90 - p10) / ROBUST_SD)


@dataclass
class FileStats:
    """What :func:`measure_file` found in one file (None: could not be measured)."""

    sha1: str
    samplerate: int = 0
    channels: int = 0
    duration: float = 0.0
    peak: float = 0.0
    dc_offset: float = 0.0
    clipped_fraction: float = 0.0
    active_dbfs: float = -120.0
    snr_db: float | None = None
    speech_seconds: float = 0.0
    lead_silence: float = 0.0
    trail_silence: float = 0.0
    speech_ratio: float = 0.0
    bandwidth_hz: float | None = None
    f0_median_st: float | None = None
    f0_spread_st: float | None = None
    voiced_frames: int = 0
    loudness_sd_db: float | None = None
    f0_range_st: float | None = None
    f0_slope_sd: float | None = None
    pause_ratio: float | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileStats:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def decode(raw: bytes) -> tuple[np.ndarray, int, int]:
    """(float32 samples [frames, channels], samplerate, channels) from file bytes."""
    data, sr = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    return data, int(sr), int(data.shape[1])


def measure_samples(data: np.ndarray, sr: int, sha1: str = "") -> FileStats:
    """All per-file measures of decoded audio ([frames, channels] or mono)."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    channels = int(data.shape[1])
    wav = data.mean(axis=1) if channels > 1 else data[:, 0]
    stats = FileStats(sha1=sha1, samplerate=sr, channels=channels, duration=len(wav) / sr)
    if wav.size == 0:
        stats.error = "audio file is empty (0 samples)"
        return stats
    if not np.all(np.isfinite(wav)):
        stats.error = "audio contains NaN or infinite samples"
        return stats
    stats.peak = float(np.max(np.abs(data)))
    stats.dc_offset = float(np.mean(wav))
    stats.clipped_fraction = float(np.mean(np.abs(data) >= CLIP_LEVEL))
    centred = wav - stats.dc_offset
    wav16 = soxr.resample(centred, sr, ANALYSIS_SR, quality="MQ") if sr != ANALYSIS_SR else centred
    wav16 = np.ascontiguousarray(wav16, dtype=np.float32)
    timings["resample"] = time.perf_counter() - t

    t = time.perf_counter()
    levels = frame_db(wav16)
    if levels.size:
        loud = np.sort(levels)[len(levels) // 2 :]  # the louder half: speech, if any
        stats.active_dbfs = float(10.0 * np.log10(np.mean(10.0 ** (loud / 10.0))))
    speech = vad_frames(wav16) if levels.size else np.zeros(0, dtype=bool)
    speech &= levels > stats.active_dbfs - 50.0  # the VAD fires on faint noise in silence
    frame_s = VAD_FRAME / ANALYSIS_SR
    if speech.any():
        idx = np.nonzero(speech)[0]
        stats.speech_seconds = float(speech.sum() * frame_s)
        stats.lead_silence = float(idx[0] * frame_s)
        stats.trail_silence = float(max(0.0, stats.duration - (idx[-1] + 1) * frame_s))
        stats.speech_ratio = float(speech.mean())
        if speech.sum() >= 5:
            stats.loudness_sd_db = float(np.std(levels[speech]))
        inside = speech[idx[0] : idx[-1] + 1]
        stats.pause_ratio = float(1.0 - inside.mean())
    timings["vad"] = time.perf_counter() - t

    t = time.perf_counter()
    stats.snr_db = wada_snr(centred)
    stats.bandwidth_hz = bandwidth_hz(centred, sr)
    timings["snr_bandwidth"] = time.perf_counter() - t

    t = time.perf_counter()
    frames = pitch_frames(wav16)
    f0 = frames[frames > 0]
    stats.voiced_frames = int(f0.size)
    if f0.size >= 10:
        st = semitones(f0)
        p5, p10, p50, p90, p95 = np.percentile(st, [5, 10, 50, 90, 95])
        stats.f0_median_st = float(p50)
        stats.f0_spread_st = float((p90 - p10) / ROBUST_SD)
        stats.f0_range_st = float(p95 - p5)
        stats.f0_slope_sd = slope_spread(frames)
    timings["pitch"] = time.perf_counter() - t
    stats.timings = timings
    return stats


def measure_file(path: str | Path) -> FileStats:
    """Read, hash and measure one file; errors are returned in `error`, never raised."""
    import hashlib

    t = time.perf_counter()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return FileStats(sha1="", error=f"cannot read ({exc.strerror or exc})")
    sha1 = hashlib.sha1(raw).hexdigest()
    try:
        data, sr, _ = decode(raw)
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as exc:
        message = str(getattr(exc, "error_string", None) or exc).strip().rstrip(".")
        return FileStats(sha1=sha1, error=f"corrupt audio, decoding failed ({message})")
    decode_s = time.perf_counter() - t
    try:
        stats = measure_samples(data, sr, sha1)
    except Exception as exc:  # a measure failing on odd audio must not stop the analysis
        return FileStats(sha1=sha1, error=f"analysis failed ({type(exc).__name__}: {exc})")
    stats.timings = {"decode": decode_s, **stats.timings}
    return stats


def load_16k(path: str | Path) -> np.ndarray:
    """Mono float32 at 16 kHz for the model-based steps (DNSMOS, ASR)."""
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sr != ANALYSIS_SR:
        wav = soxr.resample(wav, sr, ANALYSIS_SR, quality="HQ")
    return np.ascontiguousarray(np.clip(wav, -1.0, 1.0), dtype=np.float32)
