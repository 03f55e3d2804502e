"""MOS estimate: DNSMOS P.835 (SIG, BAK, OVRL) and P.808 (one overall MOS), each on 1-5.

Both models are the ONNX files the `speechmos` wheel ships; they run here through onnxruntime
without importing `speechmos` (its module imports librosa and requests). P.835 is
smart_tuner.analysis.dnsmos; P.808 reads a 120-band log-mel of the same 9.01 s window (a
shorter utterance is repeated to fill it, a longer one is cut), computed as speechmos does with
librosa's defaults (n_fft 321, hop 160, Hann window, centred frames, Slaney filters, power in
dB relative to the window's peak, floor 80 dB below it, then (dB + 40) / 40).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from smart_tuner.analysis import dnsmos
from smart_tuner.runtime.melbank import mel_filterbank

P808_N_FFT = 321
P808_HOP = 160
P808_MELS = 120


def mel_power(wav: np.ndarray, n_fft: int, hop: int, filterbank: np.ndarray) -> np.ndarray:
    """[frames, mels] mel power as librosa.feature.melspectrogram computes it by default:
    centred frames (zero padding), periodic Hann window of n_fft, |STFT|^2, then the filters."""
    from scipy.signal import get_window

    y = np.pad(np.asarray(wav, dtype=np.float32), (n_fft // 2, n_fft // 2))
    n_frames = 1 + (len(y) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    window = get_window("hann", n_fft, fftbins=True).astype(np.float32)
    power = np.abs(np.fft.rfft(y[index] * window, axis=1)) ** 2
    return (power @ filterbank.T).astype(np.float32)


def p808_features(wav16k: np.ndarray) -> np.ndarray:
    """[frames, 120] scaled log-mel, as speechmos computes it for model_v8.onnx."""
    mel = mel_power(wav16k, P808_N_FFT, P808_HOP, _p808_filterbank())
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= 10.0 * np.log10(max(float(mel.max()), 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return ((db + 40.0) / 40.0).astype(np.float32)


def _p808_filterbank() -> np.ndarray:
    """Slaney filters for an odd 321-point FFT: its bins sit at k * sr / 321, which are the
    bins of an even FFT at the rate sr * 320 / 321 (the filter edges stay at 0-8000 Hz)."""
    bin_rate = dnsmos.SAMPLE_RATE * (P808_N_FFT - 1) / P808_N_FFT
    nyquist = dnsmos.SAMPLE_RATE / 2.0
    return mel_filterbank(bin_rate, P808_N_FFT, P808_MELS, 0.0, nyquist)  # type: ignore[arg-type]


@functools.cache
def _session() -> Any:
    """The DNSMOS P.808 ONNX session, one per process."""
    import onnxruntime as ort

    path = dnsmos.model_path().parent / "model_v8.onnx"
    if not path.is_file():
        raise dnsmos.DnsmosUnavailable(f"DNSMOS P.808 model not found at {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def p808_mos(wav16k: np.ndarray) -> float:
    """DNSMOS P.808 of the first 9.01 s window (shorter audio repeated to fill it)."""
    wav = np.asarray(wav16k, dtype=np.float32)
    if wav.size == 0:
        raise ValueError("empty audio")
    if len(wav) < dnsmos.WINDOW:
        wav = np.tile(wav, int(np.ceil(dnsmos.WINDOW / len(wav))))
    wav = np.clip(wav[: dnsmos.WINDOW], -1.0, 1.0)
    features = p808_features(wav[:-P808_HOP])[None]
    return float(_session().run(None, {"input_1": features})[0][0][0])


@dataclass
class Naturalness:
    p808: float
    sig: float
    bak: float
    ovrl: float


def naturalness(wav: np.ndarray, sample_rate: int) -> Naturalness:
    """Both DNSMOS estimates of float audio at any rate (resampled to 16 kHz)."""
    import soxr

    wav16k = soxr.resample(np.asarray(wav, dtype=np.float32), sample_rate, dnsmos.SAMPLE_RATE)
    p835 = dnsmos.score_window(wav16k)
    return Naturalness(p808_mos(wav16k), p835.sig, p835.bak, p835.ovrl)
