"""Test helpers: a tiny corpus of real audio files and a tiny (but real) Tacotron2 config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from smart_tuner.config import Config, load_config

WORDS = ["the", "cat", "sat", "on", "a", "warm", "mat"]
WORDS += ["while", "seven", "dogs", "ran", "home", "quickly"]


def make_corpus(root: Path, n: int = 10, sr: int = 16000, seed: int = 0) -> Path:
    """An LJSpeech-layout folder of short tone sequences whose length follows the text."""
    rng = np.random.default_rng(seed)
    (root / "wavs").mkdir(parents=True)
    lines = []
    for i in range(n):
        words = [WORDS[(i + k) % len(WORDS)] for k in range(2 + i % 4)]
        text = " ".join(words).capitalize() + "."
        pieces = []
        for word in words:
            f0 = 120 + 40 * (hash(word) % 5)
            t = np.arange(int(0.12 * len(word) * sr)) / sr
            pieces.append(0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size))
            pieces.append(np.zeros(int(0.05 * sr)))
        sf.write(root / "wavs" / f"utt{i:03d}.wav", np.concatenate(pieces).astype(np.float32), sr)
        lines.append(f"utt{i:03d}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


TINY_MODEL = {
    "preset": "small",
    "n_frames_per_step": 2,
    "symbols_embedding_dim": 32,
    "encoder_embedding_dim": 32,
    "encoder_n_convolutions": 1,
    "attention_rnn_dim": 32,
    "attention_dim": 16,
    "attention_location_n_filters": 4,
    "attention_location_kernel_size": 5,
    "decoder_rnn_dim": 32,
    "prenet_dim": 16,
    "postnet_embedding_dim": 16,
    "postnet_n_convolutions": 2,
    "max_decoder_steps": 60,
}


def tiny_config(cache_dir: Path, **training) -> Config:
    overrides = {f"model.{k}": v for k, v in TINY_MODEL.items()}
    overrides.update(
        {
            "audio.n_mel_channels": 20,
            "data.cache_dir": str(cache_dir),
            "data.min_validation_items": 2,
            # letters: tests stay independent of eSpeak NG (test_phonemes covers phonemes)
            "data.phonemes": "off",
            "training.batch_size": 4,
            "training.num_threads": 1,
        }
    )
    overrides.update({f"training.{k}": v for k, v in training.items()})
    return load_config(None, overrides)
