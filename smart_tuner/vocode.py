"""`smart-tuner vocode AUDIO... --out DIR`: copy-synthesis, recording -> our mel -> vocoder.

What comes out is the best any model trained on these features can sound through that
vocoder, so a user hears the ceiling on their own voice before spending hours of training.
Unreadable audio gets the corpus loader's messages and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from smart_tuner.config import AudioConfig, Config

if TYPE_CHECKING:  # torch and the models load only when the command runs, not for --help
    from smart_tuner.data.features import MelSpectrogram
    from smart_tuner.model.vocoder import VocoderChoice

BAD_INPUT = 2  # the exit code every command uses for input the user must fix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", help="recordings (any format libsndfile reads)")
    parser.add_argument("--out", required=True, help="folder for the re-synthesized WAVs")
    parser.add_argument(
        "--vocoder", choices=["auto", "hifigan", "griffin_lim"], help="default: the config's"
    )
    parser.add_argument("--hifigan-model", choices=["universal", "ljspeech"])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--config", help="config.yaml (default ./config.yaml if present)")


def synthesis_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "synthesis.vocoder": args.vocoder,
        "synthesis.hifigan_model": args.hifigan_model,
        "synthesis.device": getattr(args, "device", None),
    }


@dataclass(frozen=True)
class CopySynthesis:
    source: Path
    wav_path: Path
    seconds: float
    mel_error: float  # mean |log-mel difference| between the recording and its copy


def mel_error(reference: np.ndarray, copy: np.ndarray, mel: MelSpectrogram) -> float:
    """Mean absolute log-mel difference (nats) over the frames both have: 0 = identical
    spectra; white noise of the same loudness scores ~2.5 on speech."""
    import torch

    a = mel(torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)))
    b = mel(torch.from_numpy(np.ascontiguousarray(copy, dtype=np.float32)))
    n = min(a.shape[-1], b.shape[-1])
    return float((a[..., :n] - b[..., :n]).abs().mean())


def copy_synthesize(
    path: Path, out_dir: Path, audio_cfg: AudioConfig, choice: VocoderChoice
) -> CopySynthesis:
    """Vocode one recording's mel into `out_dir`/<stem>.wav (+ .json); AudioError if unusable."""
    import soundfile as sf
    import torch

    from smart_tuner.data.audio import load_audio
    from smart_tuner.data.features import MelSpectrogram
    from smart_tuner.synthesize import write_sidecar

    wav = load_audio(path, audio_cfg.sampling_rate)
    mel = MelSpectrogram(audio_cfg)
    with torch.no_grad():
        copy = choice.vocoder(mel(torch.from_numpy(wav)))
    copy = np.clip(copy, -1.0, 1.0)
    target = out_dir / f"{path.stem}.wav"
    sf.write(target, copy, choice.vocoder.sample_rate, subtype="PCM_16")
    seconds = len(copy) / choice.vocoder.sample_rate
    error = mel_error(wav, copy, mel)
    facts = {"source": str(path), "seconds": round(seconds, 3), "mel_error": round(error, 4)}
    write_sidecar(target, facts, choice)
    return CopySynthesis(path, target, seconds, error)


def run(args: argparse.Namespace, config: Config, console: Console) -> int:
    """Copy-synthesize every file; 0 when all were written, 2 (bad input) when any was not."""
    from smart_tuner.data.audio import AudioError
    from smart_tuner.model.vocoder import VocoderError, choose_vocoder

    try:
        choice = choose_vocoder(config.audio, config.synthesis)
    except VocoderError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        return BAD_INPUT
    console.print(f"Vocoder: {choice.describe()}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in args.audio]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        console.print("[red]Error:[/red] two inputs share a file name; outputs would collide")
        return BAD_INPUT
    table = Table(title=f"copy-synthesis through {choice.describe().split(':')[0]}")
    for column in ("recording", "seconds", "mel error", "written"):
        table.add_column(column)
    failures = 0
    for path in paths:
        try:
            done = copy_synthesize(path, out_dir, config.audio, choice)
        except AudioError as exc:
            failures += 1
            console.print(f"[red]Error:[/red] {exc}")
            continue
        table.add_row(path.name, f"{done.seconds:.2f}", f"{done.mel_error:.3f}", str(done.wav_path))
    if table.row_count:
        console.print(table)
        console.print(
            "mel error: mean |log-mel difference| to the recording (0 = same spectrum; "
            "noise of the same loudness scores ~2.5)."
        )
    if failures:
        console.print(f"[red]{failures} of {len(paths)} file(s) could not be vocoded.[/red]")
        return BAD_INPUT
    return 0
