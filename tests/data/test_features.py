"""Mel features match librosa; the mel cache recomputes only what changed."""

from __future__ import annotations

import math
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from smart_tuner.config import AudioConfig
from smart_tuner.data import MelCache, MelSpectrogram, Utterance, default_cache_dir, load_audio

# Log-mel tolerance against librosa, on bins above log(1e-4) (below that, float32 rounding of
# near-silent bins dominates and the 1e-5 clamp makes both sides converge anyway).
TOLERANCE = 1e-4  # measured: about 7e-6 with float32 torch vs float64 librosa


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Harmonics with a moving pitch plus noise: energy in every mel band."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 20))
    wav = wav + 0.05 * rng.standard_normal(t.size)
    return (0.5 * wav / np.max(np.abs(wav))).astype(np.float32)


@pytest.mark.parametrize(
    "cfg",
    [
        AudioConfig(),  # NVIDIA/tacotron2 defaults
        AudioConfig(
            sampling_rate=16000,
            filter_length=512,
            hop_length=128,
            win_length=400,
            n_mel_channels=64,
            mel_fmin=50.0,
            mel_fmax=7600.0,
        ),
    ],
    ids=["nvidia", "win<nfft"],
)
def test_mel_matches_librosa(cfg: AudioConfig) -> None:
    wav = speechlike(1.3, cfg.sampling_rate)
    ours = MelSpectrogram(cfg)(torch.from_numpy(wav)).numpy()
    ref = librosa.feature.melspectrogram(
        y=wav.astype(np.float64),
        sr=cfg.sampling_rate,
        n_fft=cfg.filter_length,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        power=1.0,
        center=True,
        pad_mode="reflect",
        n_mels=cfg.n_mel_channels,
        fmin=cfg.mel_fmin,
        fmax=cfg.mel_fmax,
    )
    ref = np.log(np.clip(ref, 1e-5, None))
    assert ours.shape == ref.shape == (cfg.n_mel_channels, wav.size // cfg.hop_length + 1)
    mask = ref > math.log(1e-4)
    assert mask.mean() > 0.5
    assert np.max(np.abs(ours - ref)[mask]) < TOLERANCE
    assert ours.min() >= math.log(1e-5) - 1e-6


def test_mel_batches_and_moves_with_the_module() -> None:
    cfg = AudioConfig()
    module = MelSpectrogram(cfg)
    assert {name for name, _ in module.named_buffers()} == {"mel_basis", "window"}
    wav = torch.from_numpy(np.stack([speechlike(0.5, 22050, s) for s in range(3)]))
    batched = module(wav)
    assert batched.shape == (3, 80, wav.shape[-1] // 256 + 1)
    torch.testing.assert_close(batched[1], module(wav[1]), atol=1e-4, rtol=0)
    assert module.to(torch.float64).mel_basis.dtype == torch.float64
    assert module(torch.zeros(100)).shape == (80, 100 // 256 + 1)  # shorter than the pad


def write(path: Path, seconds: float, sr: int = 22050, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speechlike(seconds, sr, seed), sr)
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[Utterance]:
    return [
        Utterance(f"u{i}", write(tmp_path / "data" / f"u{i}.wav", 0.3 + 0.1 * i, seed=i), "x")
        for i in range(4)
    ]


def test_cache_second_pass_recomputes_nothing(files: list[Utterance], tmp_path: Path) -> None:
    cfg = AudioConfig()
    cache = MelCache(cfg, tmp_path / "cache")
    frames = cache.precompute(files, progress=False)
    assert cache.misses == 4 and cache.hits == 0
    assert frames == {
        u.id: int(0.3 * 22050 + 0.1 * i * 22050) // 256 + 1 for i, u in enumerate(files)
    }
    mel = cache.get(files[0])
    assert mel.dtype == np.float32 and mel.shape == (80, frames["u0"])
    direct = MelSpectrogram(cfg)(torch.from_numpy(load_audio(files[0].audio_path, 22050)))
    np.testing.assert_allclose(mel, direct.numpy(), atol=1e-5)

    again = MelCache(cfg, tmp_path / "cache")  # a new run: fresh counters, index from disk
    assert again.precompute(files, progress=False) == frames
    assert again.misses == 0 and again.hits == 4
    np.testing.assert_array_equal(again.get(files[0]), mel)
    assert (tmp_path / "cache" / "index.json").is_file()
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_cache_misses_on_changed_parameters(files: list[Utterance], tmp_path: Path) -> None:
    MelCache(AudioConfig(), tmp_path / "cache").precompute(files, progress=False)
    other = MelCache(AudioConfig(n_mel_channels=64), tmp_path / "cache")
    other.precompute(files, progress=False)
    assert other.misses == 4 and other.hits == 0
    assert other.get(files[0]).shape[0] == 64


def test_cache_misses_on_changed_content(files: list[Utterance], tmp_path: Path) -> None:
    cfg = AudioConfig()
    cache = MelCache(cfg, tmp_path / "cache")
    cache.precompute(files, progress=False)
    before = cache.get(files[1]).copy()
    write(files[1].audio_path, 0.4, seed=99)  # same length, new content
    cache.precompute(files, progress=False)
    assert cache.misses == 5
    assert not np.array_equal(cache.get(files[1]), before)

    fresh = MelCache(cfg, tmp_path / "cache")
    fresh.precompute(files, progress=False)
    assert fresh.misses == 0


def test_cache_keys_by_content_not_path(files: list[Utterance], tmp_path: Path) -> None:
    cache = MelCache(AudioConfig(), tmp_path / "cache")
    cache.precompute(files[:1], progress=False)
    copy = tmp_path / "moved" / "renamed.wav"
    copy.parent.mkdir()
    copy.write_bytes(files[0].audio_path.read_bytes())
    cache.get(copy)
    assert cache.misses == 1 and cache.hits == 1


def test_damaged_cache_entry_is_recomputed(files: list[Utterance], tmp_path: Path) -> None:
    cache = MelCache(AudioConfig(), tmp_path / "cache")
    cache.precompute(files[:1], progress=False)
    cache.path_for(files[0]).write_bytes(b"half a file")
    assert cache.get(files[0]).shape[0] == 80
    assert cache.misses == 2


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "smart_tuner" / "mels"
    assert MelCache(AudioConfig()).root == tmp_path / "xdg" / "smart_tuner" / "mels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "smart_tuner" / "mels"
