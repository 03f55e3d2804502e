"""Text -> speech from a checkpoint: Tacotron2 inference, then the configured vocoder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from smart_tuner.config import Config, config_from_dict
from smart_tuner.data import TextFrontend
from smart_tuner.data.phonemes import PhonemizerUnavailable
from smart_tuner.model import Tacotron2
from smart_tuner.model.vocoder import Vocoder, VocoderChoice, VocoderError, choose_vocoder
from smart_tuner.plots import plot_alignment, plot_mels
from smart_tuner.runtime.alignment_metrics import attention_score, diagonality
from smart_tuner.runtime.checkpoint import load_checkpoint
from smart_tuner.runtime.device import select_device


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
    vocoder: str = ""  # which vocoder spoke and why (VocoderChoice.describe())
    alignment: np.ndarray | None = None  # [decoder steps, encoder steps] attention, float32


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
    vocoder: Vocoder | VocoderChoice | None = None,
    seed: int = 0,
) -> SynthesisResult:
    """Write `out` (WAV), `out`.json (text, vocoder and why) and `out`'s alignment/mel PNGs;
    raise when the decoder never stops.

    The vocoder is the config's `synthesis` choice (HiFi-GAN when the audio settings allow)
    unless one is given. Prenet dropout stays on at inference (as in the paper), so a fixed
    seed makes the output reproducible.
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
            None,
            align_png,
            mel_png,
            0.0,
            steps,
            False,
            score,
            diag,
            result.stop_cause,
            alignment=alignment.numpy(),
        )
    choice = resolve_vocoder(loaded, vocoder)
    wav = choice.vocoder(mel)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak > 0:
        wav = wav * (0.95 / peak)
    rate = choice.vocoder.sample_rate
    sf.write(out, wav.astype(np.float32), rate, subtype="PCM_16")
    seconds = len(wav) / rate
    write_sidecar(out, {"text": text, "seconds": round(seconds, 3), "sample_rate": rate}, choice)
    return SynthesisResult(
        out,
        align_png,
        mel_png,
        seconds,
        steps,
        True,
        score,
        diag,
        result.stop_cause,
        choice.describe(),
        alignment.numpy(),
    )


def resolve_vocoder(loaded: LoadedModel, given: Vocoder | VocoderChoice | None) -> VocoderChoice:
    """The caller's vocoder, else the one the model's config chooses (SynthesisError if it
    names one that cannot be used)."""
    if isinstance(given, VocoderChoice):
        return given
    if given is not None:
        return VocoderChoice(given, type(given).__name__.lower(), "given by the caller")
    try:
        return choose_vocoder(loaded.config.audio, loaded.config.synthesis)
    except VocoderError as exc:
        raise SynthesisError(str(exc)) from exc


def write_sidecar(wav_path: Path, facts: dict[str, object], choice: VocoderChoice) -> Path:
    """`WAV`.json beside the WAV: how it was made, so a listener knows which vocoder spoke."""
    path = Path(wav_path).with_suffix(".json")
    path.write_text(json.dumps({**facts, **choice.to_dict()}, indent=2) + "\n", encoding="utf-8")
    return path
