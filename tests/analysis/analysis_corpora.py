"""Small corpora derived from the embedded demo corpus, with known properties."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import parselmouth
import soundfile as sf
from parselmouth.praat import call

from smart_tuner.config import Config, load_config

DEMO = Path(__file__).resolve().parents[2] / "smart_tuner" / "demo_corpus"
SR = 16000

Transform = Callable[[np.ndarray, int], np.ndarray]


def demo_lines(language: str = "en", n: int = 20, start: int = 0) -> list[tuple[str, str]]:
    rows = (DEMO / language / "metadata.csv").read_text(encoding="utf-8").splitlines()
    return [(r.split("|")[0], r.split("|")[1]) for r in rows[start : start + n]]


def demo_wav(language: str, uid: str) -> np.ndarray:
    wav, sr = sf.read(DEMO / language / "wavs" / f"{uid}.flac", dtype="float32")
    assert sr == SR
    return wav


def build(
    root: Path,
    n: int = 20,
    language: str = "en",
    transforms: list[Transform | None] | None = None,
    start: int = 0,
) -> Path:
    """LJSpeech folder: for each transform (None = the original), a copy of `n` utterances."""
    wavs = root / "wavs"
    wavs.mkdir(parents=True)
    lines = []
    for copy, transform in enumerate(transforms or [None]):
        for k, (uid, text) in enumerate(demo_lines(language, n, start)):
            wav = demo_wav(language, uid)
            if transform is not None:
                wav = transform(wav, k)
            name = f"{uid}_{copy}"
            sf.write(wavs / f"{name}.wav", np.clip(wav, -1, 1).astype(np.float32), SR)
            lines.append(f"{name}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def praat(wav: np.ndarray, median_hz: float = 0.0, range_factor: float = 1.0, duration=1.0):
    """Praat's 'Change gender' (PSOLA): new pitch median, pitch range factor, duration factor."""
    sound = parselmouth.Sound(wav.astype(np.float64), SR)
    out = call(sound, "Change gender", 75, 600, 1.0, median_hz, range_factor, duration)
    return out.values[0].astype(np.float32)


def stretch(factor: float) -> Transform:
    return lambda wav, k: praat(wav, duration=factor)


def shift(semitones: float) -> Transform:
    def apply(wav: np.ndarray, k: int) -> np.ndarray:
        f0 = parselmouth.Sound(wav.astype(np.float64), SR).to_pitch_ac(pitch_floor=65)
        median = call(f0, "Get quantile", 0, 0, 0.5, "Hertz")
        return praat(wav, median_hz=median * 2 ** (semitones / 12))

    return apply


def exaggerate(range_factor: float) -> Transform:
    return lambda wav, k: praat(wav, range_factor=range_factor)


def add_noise(snr_db: float, seed: int = 0) -> Transform:
    """White noise at `snr_db` relative to the power of the speech (frames above -40 dB)."""

    def apply(wav: np.ndarray, k: int) -> np.ndarray:
        rng = np.random.default_rng(seed + k)
        active = wav[np.abs(wav) > 0.01 * np.abs(wav).max()]
        power = float(np.mean(active**2))
        return wav + rng.standard_normal(wav.size).astype(np.float32) * np.sqrt(
            power / 10 ** (snr_db / 10)
        )

    return apply


def config(**overrides: object) -> Config:
    """Defaults with the model-based steps off unless asked for (they are the slow part)."""
    base: dict[str, object] = {
        "analysis.sampling.dnsmos_max_seconds": 0.0,
        "analysis.sampling.asr_max_utterances": 0,
    }
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(None, base)
