"""Text -> speech from a checkpoint: Tacotron2 inference, then a vocoder (Griffin-Lim for now)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from smart_tuner.config import Config, config_from_dict
from smart_tuner.data import TextFrontend
from smart_tuner.data.phonemes import PhonemizerUnavailable
from smart_tuner.model import GriffinLim, Tacotron2
from smart_tuner.model.vocoder import Vocoder
from smart_tuner.plots import plot_alignment, plot_mels
from smart_tuner.train.alignment_metrics import attention_score, diagonality
from smart_tuner.train.checkpoint import load_checkpoint
from smart_tuner.train.device import select_device


class SynthesisError(RuntimeError):
    """Synthesis produced nothing usable; the message says why."""


@dataclass
class SynthesisResult:
    wav_path: Path | None
    alignment_png: Path
    mel_png: Path
    seconds: float
    decoder_steps: int
    reached_stop: bool
    attention_score: float
    diagonality: float
    stop_cause: str = "gate"  # gate | attention_end | max_steps


@dataclass
class LoadedModel:
    model: Tacotron2
    frontend: TextFrontend
    config: Config
    epoch: int


def load_model(checkpoint: Path, device: str = "auto") -> LoadedModel:
    state = load_checkpoint(checkpoint)
    if "frontend" not in state or "config" not in state:
        raise SynthesisError(
            f"{checkpoint} is not a Smart Tuner checkpoint (no text front-end inside); "
            "train one with `smart-tuner train`, or use it with --warm-start"
        )
    config = config_from_dict(state["config"], f"{checkpoint} (embedded config)")
    frontend = TextFrontend.from_dict(state["frontend"])
    model = Tacotron2(config.model, len(frontend.symbols), config.audio.n_mel_channels)
    model.load_state_dict(state["model"])
    model.to(select_device(device)).eval()
    return LoadedModel(model, frontend, config, int(state.get("epoch", 0)))


def synthesize(
    loaded: LoadedModel,
    text: str,
    out: Path,
    vocoder: Vocoder | None = None,
    seed: int = 0,
) -> SynthesisResult:
    """Write `out` (WAV) and `out`'s alignment/mel PNGs; raise when the decoder never stops.

    Prenet dropout stays on at inference (as in the paper), so a fixed seed makes the output
    reproducible.
    """
    try:
        ids = loaded.frontend(text)
    except PhonemizerUnavailable as exc:
        raise SynthesisError(f"this model reads phonemes, but {exc}") from exc
    if len(ids) <= 1:
        raise SynthesisError(f"nothing to say: no known symbols in {text!r}")
    device = next(loaded.model.parameters()).device
    torch.manual_seed(seed)
    with torch.no_grad():
        result = loaded.model.inference(torch.tensor([ids], dtype=torch.long, device=device))
    alignment = result.alignments[0].float().cpu()
    mel = result.mel_outputs_postnet[0].float().cpu()
    steps = alignment.shape[0]
    enc = torch.tensor([alignment.shape[1]])
    dec = torch.tensor([steps])
    score = attention_score(alignment[None], enc, dec)
    diag = diagonality(alignment[None], enc, dec)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{text}  (attention_score {score:.2f}, diagonality {diag:.2f})"
    align_png = plot_alignment(alignment.numpy(), out.with_suffix(".alignment.png"), title)
    mel_png = plot_mels({"predicted": mel.numpy()}, out.with_suffix(".mel.png"), text[:60])
    if not result.reached_stop:
        return SynthesisResult(
            None, align_png, mel_png, 0.0, steps, False, score, diag, result.stop_cause
        )
    vocoder = vocoder or GriffinLim(loaded.config.audio)
    wav = vocoder(mel)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak > 0:
        wav = wav * (0.95 / peak)
    sf.write(out, wav.astype(np.float32), vocoder.sample_rate, subtype="PCM_16")
    seconds = len(wav) / vocoder.sample_rate
    return SynthesisResult(
        out, align_png, mel_png, seconds, steps, True, score, diag, result.stop_cause
    )
