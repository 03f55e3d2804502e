"""Turning mels back into audio for listening checks.

Griffin-Lim needs no trained weights, so a sample can always be rendered; it sounds phasey,
which is fine for judging whether the model speaks at all. A neural vocoder can replace it
through the same `Vocoder` protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from smart_tuner.config import AudioConfig
from smart_tuner.model.melbank import mel_filterbank

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
