"""Speaker similarity: cosine of speaker embeddings, synthesis against the speaker's recordings.

The encoder is Resemblyzer's (a 3-layer LSTM d-vector model trained for speaker verification,
its weights `pretrained.pt` ship inside the `resemblyzer` wheel). The weights are read with
`torch.load(weights_only=True)` into the same network, without importing the package (which
imports librosa at load time); its preprocessing is followed: 16 kHz, volume raised to
-30 dBFS, long silences trimmed with WebRTC VAD, 40-band mel power frames (25 ms / 10 ms),
1.6 s partials at 1.3 per second, the utterance embedding the normalised mean of the
partials'. Each synthesis is compared with the mean embedding of the *other* recordings, and
each recording likewise (the ceiling: what the same speaker scores against themself).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160
PARTIALS_PER_SECOND = 1.3
MIN_COVERAGE = 0.75
VAD_WINDOW = 480  # 30 ms
VAD_AVERAGE = 8
VAD_MAX_SILENCE = 6
TARGET_DBFS = -30.0


class SpeakerEncoderUnavailable(RuntimeError):
    """The resemblyzer wheel (which ships the weights) is not installed."""


def weights_path() -> Path:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise SpeakerEncoderUnavailable(
            "the resemblyzer package (speaker encoder weights) is not installed; "
            "`pip install --no-deps resemblyzer` adds it"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise SpeakerEncoderUnavailable(f"speaker encoder weights not found at {path}")
    return path


def available() -> str | None:
    try:
        weights_path()
    except SpeakerEncoderUnavailable as exc:
        return str(exc)
    return None


@functools.cache
def _network() -> Any:
    """Resemblyzer's speaker encoder (3-layer LSTM) with its shipped weights, one per process."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True)

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    encoder = Encoder()
    encoder.load_state_dict(state["model_state"], strict=False)
    return encoder.eval()


def preprocess(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """16 kHz, quiet audio raised to -30 dBFS, silences longer than ~0.2 s trimmed."""
    import soxr
    import webrtcvad
    from scipy.ndimage import binary_dilation

    x = soxr.resample(np.asarray(wav, dtype=np.float32), sample_rate, SAMPLE_RATE)
    rms = float(np.sqrt(np.mean((x * 32767.0) ** 2))) if x.size else 0.0
    if rms > 0:
        change = TARGET_DBFS - 20.0 * np.log10(rms / 32767.0)
        if change > 0:
            x = x * (10.0 ** (change / 20.0))
    x = x[: len(x) - len(x) % VAD_WINDOW]
    if x.size == 0:
        return x
    pcm = np.round(x * 32767.0).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array(
        [
            vad.is_speech(pcm[start * 2 : (start + VAD_WINDOW) * 2], SAMPLE_RATE)
            for start in range(0, len(x), VAD_WINDOW)
        ],
        dtype=float,
    )
    padded = np.concatenate([np.zeros((VAD_AVERAGE - 1) // 2), flags, np.zeros(VAD_AVERAGE // 2)])
    smoothed = np.convolve(padded, np.ones(VAD_AVERAGE) / VAD_AVERAGE, mode="valid")
    mask = binary_dilation(np.round(smoothed).astype(bool), np.ones(VAD_MAX_SILENCE + 1))
    return x[np.repeat(mask, VAD_WINDOW)]


def _mel_frames(x: np.ndarray) -> np.ndarray:
    """[frames, 40] mel power, librosa.feature.melspectrogram's defaults at 25 ms / 10 ms."""
    from smart_tuner.evaluate.naturalness import mel_power
    from smart_tuner.runtime.melbank import mel_filterbank

    return mel_power(x, WINDOW, HOP, mel_filterbank(SAMPLE_RATE, WINDOW, N_MELS, 0.0, None))


def embed(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """L2-normalised 256-d speaker embedding of one utterance."""
    import torch

    x = preprocess(wav, sample_rate)
    if x.size == 0:
        raise ValueError("no speech left after trimming silence")
    n_frames = int(np.ceil((len(x) + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / PARTIALS_PER_SECOND / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (len(x) - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    needed = (starts[-1] + PARTIAL_FRAMES) * HOP
    if needed >= len(x):
        x = np.pad(x, (0, needed - len(x)))
    mel = _mel_frames(x)
    partials = np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])
    with torch.no_grad():
        embeddings = _network()(torch.from_numpy(partials)).numpy()
    mean = embeddings.mean(axis=0)
    return mean / np.linalg.norm(mean)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
