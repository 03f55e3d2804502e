"""Turning mels back into audio, and choosing how.

HiFi-GAN (public weights trained on our mel settings) is what a listener should hear.
Griffin-Lim needs no trained weights, so a sample can always be rendered; it sounds phasey,
which is fine for judging whether the model speaks at all, for fast tests, and as the
fallback when the audio settings do not match HiFi-GAN's or its weights are missing.
`choose_vocoder` makes that choice in one place for every caller and says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from smart_tuner.config import AudioConfig, SynthesisConfig
from smart_tuner.model.hifigan import V1, HifiGan, HifiGanUnavailable
from smart_tuner.runtime.melbank import mel_filterbank

log = logging.getLogger(__name__)

# Floor of the log-mel features (log(clamp(x, min=1e-5))), as in NVIDIA's feature extraction.
LOG_MEL_FLOOR = 1e-5


@runtime_checkable
class Vocoder(Protocol):
    """Anything that turns a log-mel [n_mel, T] into a float32 waveform at `sample_rate`."""

    @property
    def sample_rate(self) -> int: ...

    def __call__(self, mel: Tensor) -> np.ndarray: ...


class GriffinLim:
    """Log-mel -> linear magnitude (filterbank pseudo-inverse) -> Griffin-Lim phase estimate.

    ``power`` > 1 sharpens the magnitude before phase retrieval, which reduces the smeared
    "buzz" the pseudo-inverse leaves between harmonics (Tacotron 1 used 1.5). ``momentum`` is
    the fast Griffin-Lim update of Perraudin et al. 2013; 0 gives the classic algorithm.
    """

    def __init__(
        self,
        audio_cfg: AudioConfig,
        n_iters: int = 60,
        power: float = 1.5,
        momentum: float = 0.99,
        seed: int = 0,
    ) -> None:
        self.audio_cfg = audio_cfg
        self.n_iters = n_iters
        self.power = power
        self.momentum = momentum
        self.seed = seed
        basis = mel_filterbank(
            audio_cfg.sampling_rate,
            audio_cfg.filter_length,
            audio_cfg.n_mel_channels,
            audio_cfg.mel_fmin,
            audio_cfg.mel_fmax,
        )
        self._inverse_basis = torch.from_numpy(np.linalg.pinv(basis)).float()  # [n_bins, n_mel]

    @property
    def sample_rate(self) -> int:
        return self.audio_cfg.sampling_rate

    def mel_to_magnitude(self, mel: Tensor) -> Tensor:
        """Log-mel [n_mel, T] -> non-negative linear magnitude [n_fft // 2 + 1, T]."""
        linear_mel = torch.exp(mel.float()).clamp_min(LOG_MEL_FLOOR)
        magnitude = self._inverse_basis.to(mel.device) @ linear_mel
        # The pseudo-inverse can go negative between filters; a magnitude cannot.
        return magnitude.clamp_min(0.0)

    @torch.no_grad()
    def __call__(self, mel: Tensor) -> np.ndarray:
        if mel.dim() != 2:
            raise ValueError(f"expected a log-mel of shape [n_mel, T], got {list(mel.shape)}")
        cfg = self.audio_cfg
        magnitude = self.mel_to_magnitude(mel) ** self.power
        window = torch.hann_window(cfg.win_length, device=mel.device)
        length = max(mel.size(1) - 1, 1) * cfg.hop_length

        def stft(y: Tensor) -> Tensor:
            return torch.stft(
                y,
                cfg.filter_length,
                cfg.hop_length,
                cfg.win_length,
                window=window,
                center=True,
                # Zeros, not reflection: silence is what surrounds the clip, and reflect padding
                # fails on clips shorter than half a window (a decoder that stopped at once).
                pad_mode="constant",
                return_complex=True,
            )

        def istft(spec: Tensor) -> Tensor:
            return torch.istft(
                spec, cfg.filter_length, cfg.hop_length, cfg.win_length, window, length=length
            )

        generator = torch.Generator().manual_seed(self.seed)
        phase = torch.rand(magnitude.shape, generator=generator) * (2 * torch.pi)
        angles = torch.polar(torch.ones_like(magnitude), phase.to(mel.device))
        previous = torch.zeros_like(angles)
        for _ in range(self.n_iters):
            rebuilt = stft(istft(magnitude * angles))
            update = rebuilt - (self.momentum / (1 + self.momentum)) * previous
            angles = update / update.abs().clamp_min(1e-16)
            previous = rebuilt
        audio = istft(magnitude * angles)
        peak = audio.abs().max()
        if peak > 1.0:  # only guard against clipping; quiet audio stays as it is
            audio = audio / peak
        return audio.cpu().numpy().astype(np.float32)


class VocoderError(RuntimeError):
    """The vocoder asked for cannot be used; the message says why and what to change."""


@dataclass(frozen=True)
class VocoderChoice:
    """Which vocoder speaks, and the one-line reason, written beside every WAV."""

    vocoder: Vocoder
    name: str  # "hifigan" | "griffin_lim"
    reason: str
    hifigan_model: str | None = None
    device: str = "cpu"

    def describe(self) -> str:
        label = f"HiFi-GAN ({self.hifigan_model})" if self.name == "hifigan" else "Griffin-Lim"
        return f"{label} on {self.device}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocoder": self.name,
            "hifigan_model": self.hifigan_model,
            "device": self.device,
            "reason": self.reason,
        }


def vocoder_device(wanted: str) -> str:
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise VocoderError("synthesis.device is cuda, but CUDA is not available here")
    return wanted


def choose_vocoder(
    audio_cfg: AudioConfig, synthesis: SynthesisConfig | None = None
) -> VocoderChoice:
    """`synthesis.vocoder`: hifigan (or VocoderError), griffin_lim, or auto (HiFi-GAN when the
    audio settings match its weights and they are installed, else Griffin-Lim)."""
    synthesis = synthesis or SynthesisConfig()
    wanted, model = synthesis.vocoder, synthesis.hifigan_model
    if wanted == "griffin_lim":
        choice = VocoderChoice(GriffinLim(audio_cfg), "griffin_lim", "chosen in the config")
        log.info("vocoder: %s", choice.describe())
        return choice
    mismatches = V1.audio_mismatches(audio_cfg)
    problem = (
        "the audio settings differ from HiFi-GAN's: " + ", ".join(mismatches)
        if mismatches
        else None
    )
    device = vocoder_device(synthesis.device)
    if problem is None:
        try:
            hifigan = HifiGan(model, device, chunk_frames=synthesis.chunk_frames)
        except HifiGanUnavailable as exc:
            problem = str(exc)
        else:
            reason = (
                "chosen in the config"
                if wanted == "hifigan"
                else "the audio settings match HiFi-GAN's"
            )
            choice = VocoderChoice(hifigan, "hifigan", reason, model, device)
            log.info("vocoder: %s", choice.describe())
            return choice
    if wanted == "hifigan":
        raise VocoderError(f"synthesis.vocoder is hifigan, but {problem}")
    choice = VocoderChoice(GriffinLim(audio_cfg), "griffin_lim", problem)
    log.info("vocoder: %s", choice.describe())
    return choice
