"""Audio reading: every format libsndfile knows, returned as float32 mono at the model's rate.

Errors from soundfile (``LibsndfileError`` is a ``RuntimeError``) are turned into
:class:`AudioError` so callers can skip one bad file with a readable reason instead of dying
on a traceback from deep inside a C library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Extensions tried when looking for an utterance's audio next to its id (LJSpeech layout).
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aiff",
    ".aif",
    ".aifc",
    ".au",
    ".caf",
    ".w64",
    ".rf64",
)


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about a file, read without decoding the samples."""

    samplerate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def _describe(exc: Exception) -> str:
    """libsndfile's own words ('Format not recognised.') without the 'Error opening ...' prefix."""
    message = getattr(exc, "error_string", None) or str(exc)
    return str(message).strip().rstrip(".") or type(exc).__name__


def audio_info(path: str | Path) -> AudioInfo:
    """Header check (cheap: no decoding); AudioError for missing, unreadable or empty files."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: unreadable or not audio ({_describe(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    return AudioInfo(
        samplerate=int(info.samplerate), channels=int(info.channels), frames=info.frames
    )


def load_audio(path: str | Path, target_sr: int) -> np.ndarray:
    """Decode `path` to float32 mono in [-1, 1] at `target_sr`.

    Stereo is averaged (not the left channel) so a file with the voice panned to one side still
    works. Resampling uses soxr's high-quality mode; it keeps the spectrum below the new Nyquist
    intact, which matters because the mel features are computed from it.
    """
    path = Path(path)
    if target_sr <= 0:
        raise ValueError(f"target_sr must be positive, got {target_sr}")
    audio_info(path)  # specific messages for missing / not audio / empty
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: corrupt audio, decoding failed ({_describe(exc)})") from None
    if data.size == 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    if sr != target_sr:
        wav = soxr.resample(wav, sr, target_sr, quality="HQ")
    # Float files may exceed full scale, and resampling can overshoot slightly near it.
    wav = np.clip(wav, -1.0, 1.0)
    return np.ascontiguousarray(wav, dtype=np.float32)
