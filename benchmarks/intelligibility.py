"""Listen by numbers, vocoder by vocoder: word error rate and DNSMOS of a model's speech.

    python benchmarks/intelligibility.py RUN_DIR [--dataset DIR] [--checkpoint best.pt]
        [--vocoders griffin_lim hifigan] [--teacher-forced 8] [--seeds 3]
    python benchmarks/intelligibility.py --copy-only DATASET   # the vocoders' ceiling only

For each vocoder side by side (the same mels go through each), it scores:
- recordings: the corpus's own recordings, untouched (what the recogniser manages at best);
- copy-synthesis: those recordings -> our mel -> the vocoder (the ceiling: a model cannot
  beat its vocoder);
- teacher-forced: the model's postnet mels from the true previous frames (bad here means the
  spectra are not learned; good here but bad free-running means alignment or durations fail);
- unseen: sentences as long as the demo corpus's that the model never heard, free-running,
  averaged over --seeds prenet-dropout seeds (one seed's WER moves by ~0.1);
- longer: unseen sentences longer than any in the corpus (does the model carry over?).
WER is PocketSphinx's (offline, English; 1.0 = nothing right; compare with the recordings),
MOS is DNSMOS P.835 overall and signal (1-5). A table is printed and RUN_DIR/intelligibility/
scores.json written; the seed-0 WAVs are kept there as CONDITION_I.VOCODER.wav.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.cli import DEMO_SENTENCES, demo_corpus_path  # noqa: E402
from smart_tuner.config import AudioConfig, SynthesisConfig  # noqa: E402
from smart_tuner.data import Corpus, load_corpus  # noqa: E402
from smart_tuner.data.audio import load_audio  # noqa: E402
from smart_tuner.data.features import MelSpectrogram  # noqa: E402
from smart_tuner.listen import Listening, listen_to  # noqa: E402
from smart_tuner.model.vocoder import VocoderChoice, choose_vocoder  # noqa: E402
from smart_tuner.synthesize import LoadedModel, SynthesisError, load_model, synthesize  # noqa: E402

# As long as the demo corpus's sentences (35-59 characters).
UNSEEN = (
    *DEMO_SENTENCES,
    "The old clock on the wall stopped at midnight.",
    "My brother painted the fence a bright shade of green.",
    "We walked along the river until the sun went down.",
    "She opened the window to let the cold air in.",
    "The baker sold every loaf before noon.",
)
# Longer than any demo sentence (70-81 characters): does the model carry over to them?
LONGER = (
    "A gentle breeze carried the smell of fresh bread across the quiet village square.",
    "Please remember to water the tomatoes before the evening train leaves.",
    "Every clever student brought a yellow notebook to the morning lecture.",
)
VOCODERS = ("griffin_lim", "hifigan")


@dataclass
class Scores:
    """One condition through one vocoder: WER of every clip (1.0 when none came out), MOS of
    every clip that did."""

    wer: list[float] = field(default_factory=list)
    overall: list[float] = field(default_factory=list)
    signal: list[float] = field(default_factory=list)

    def add(self, heard: Listening | None) -> None:
        self.wer.append(1.0 if heard is None or heard.wer is None else heard.wer)
        if heard is not None and heard.mos_overall is not None and heard.mos_signal is not None:
            self.overall.append(heard.mos_overall)
            self.signal.append(heard.mos_signal)

    def summary(self) -> dict[str, float | int | None]:
        def mean(xs: list[float]) -> float | None:
            return round(float(np.mean(xs)), 3) if xs else None

        return {
            "wer": mean(self.wer),
            "mos_overall": mean(self.overall),
            "mos_signal": mean(self.signal),
            "n": len(self.wer),
        }


class MelRecorder:
    """A `Vocoder` that only keeps the mel it was given (its own output is silence): one
    Tacotron2 inference, then every vocoder on the same mel."""

    def __init__(self, audio: AudioConfig) -> None:
        self.audio = audio
        self.mel: Tensor | None = None

    @property
    def sample_rate(self) -> int:
        return self.audio.sampling_rate

    def __call__(self, mel: Tensor) -> np.ndarray:
        self.mel = mel
        return np.zeros(mel.shape[1] * self.audio.hop_length, dtype=np.float32)


def make_vocoders(audio: AudioConfig, names: Sequence[str], model: str) -> dict[str, VocoderChoice]:
    return {
        n: choose_vocoder(audio, SynthesisConfig(vocoder=n, hifigan_model=model)) for n in names
    }


def vocode_and_listen(
    mel: Tensor, text: str, vocoders: dict[str, VocoderChoice], keep: Path | None
) -> dict[str, Listening]:
    """Each vocoder's audio of `mel`, peak-normalised as synthesize() does, heard and rated."""
    heard = {}
    for name, choice in vocoders.items():
        wav = choice.vocoder(mel)
        peak = float(np.abs(wav).max()) if wav.size else 0.0
        wav = wav * (0.95 / peak) if peak > 0 else wav
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            sf.write(keep.with_suffix(f".{name}.wav"), wav, choice.vocoder.sample_rate)
        heard[name] = listen_to(wav, choice.vocoder.sample_rate, text)
    return heard


def free_running(
    loaded: LoadedModel,
    sentences: Sequence[str],
    seeds: Sequence[int],
    vocoders: dict[str, VocoderChoice],
    out_dir: Path,
    label: str,
) -> tuple[dict[str, Scores], int]:
    """Scores per vocoder of the model speaking `sentences` on its own; and how many of the
    len(sentences) x len(seeds) attempts produced no audio (never stopped / nothing to say)."""
    scores = {name: Scores() for name in vocoders}
    failed = 0
    for seed in seeds:
        for i, sentence in enumerate(sentences):
            recorder = MelRecorder(loaded.config.audio)
            scratch = out_dir / "scratch.wav"
            try:
                result = synthesize(loaded, sentence, scratch, vocoder=recorder, seed=seed)
            except SynthesisError:
                result = None
            if result is None or result.wav_path is None or recorder.mel is None:
                failed += 1
                for s in scores.values():
                    s.add(None)
                continue
            keep = out_dir / f"{label}_{i}" if seed == 0 else None
            for name, heard in vocode_and_listen(recorder.mel, sentence, vocoders, keep).items():
                scores[name].add(heard)
    for scratch in out_dir.glob("scratch.*"):
        scratch.unlink()
    return scores, failed


def recording_mel(path: Path, audio: AudioConfig, mel: MelSpectrogram) -> tuple[np.ndarray, Tensor]:
    wav = load_audio(path, audio.sampling_rate)
    return wav, mel(torch.from_numpy(wav))


def copy_synthesis(
    corpus: Corpus, n: int, audio: AudioConfig, vocoders: dict[str, VocoderChoice], out_dir: Path
) -> tuple[Scores, dict[str, Scores]]:
    """The recordings themselves, and each vocoder's copy of their mels."""
    raw, copies = Scores(), {name: Scores() for name in vocoders}
    meter = MelSpectrogram(audio)
    for i, item in enumerate(corpus.entries[:n]):
        wav, mel = recording_mel(item.audio_path, audio, meter)
        raw.add(listen_to(wav, audio.sampling_rate, item.text))
        keep = out_dir / f"copy_{i}" if i < 2 else None
        for name, heard in vocode_and_listen(mel, item.text, vocoders, keep).items():
            copies[name].add(heard)
    return raw, copies


def teacher_forced(
    loaded: LoadedModel, corpus: Corpus, n: int, vocoders: dict[str, VocoderChoice], out_dir: Path
) -> dict[str, Scores]:
    """The postnet mels the model predicts from the true previous frames, through each vocoder."""
    audio, r = loaded.config.audio, loaded.model.n_frames_per_step
    meter = MelSpectrogram(audio)
    device = next(loaded.model.parameters()).device
    scores = {name: Scores() for name in vocoders}
    for i, item in enumerate(corpus.entries[:n]):
        target = recording_mel(item.audio_path, audio, meter)[1][None].to(device)
        frames = target.shape[2]
        padded = torch.nn.functional.pad(target, (0, (-frames) % r))
        ids = torch.tensor([loaded.frontend(item.text)], device=device)
        lengths = torch.tensor([ids.shape[1]], device=device)
        with torch.no_grad():
            out = loaded.model(ids, lengths, padded, torch.tensor([frames], device=device))
        predicted = out.mel_outputs_postnet[0, :, :frames].float().cpu()
        keep = out_dir / f"teacher_forced_{i}" if i < 2 else None
        for name, heard in vocode_and_listen(predicted, item.text, vocoders, keep).items():
            scores[name].add(heard)
    return scores


def score_checkpoint(
    loaded: LoadedModel,
    corpus: Corpus,
    vocoders: dict[str, VocoderChoice],
    out_dir: Path,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    n_teacher_forced: int = 8,
    n_copy: int = 8,
    groups: dict[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """{condition: {vocoder or "recording": {wer, mos_overall, mos_signal, n}}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[str, dict[str, float | int | None]]] = {}
    if n_copy:
        raw, copies = copy_synthesis(corpus, n_copy, loaded.config.audio, vocoders, out_dir)
        table["recordings"] = {"recording": raw.summary()}
        table["copy-synthesis"] = {k: v.summary() for k, v in copies.items()}
    if n_teacher_forced:
        forced = teacher_forced(loaded, corpus, n_teacher_forced, vocoders, out_dir)
        table["teacher-forced"] = {k: v.summary() for k, v in forced.items()}
    for label, sentences in (groups or {"unseen": UNSEEN, "longer": LONGER}).items():
        scores, failed = free_running(loaded, sentences, seeds, vocoders, out_dir, label)
        table[label] = {k: {**v.summary(), "no_audio": failed} for k, v in scores.items()}
    return table


def print_table(
    scores: dict[str, dict[str, dict[str, float | int | None]]], title: str, console: Console
) -> None:
    names = sorted({v for row in scores.values() for v in row if v != "recording"})
    table = Table(title=title)
    table.add_column("condition")
    table.add_column("n")
    for name in names:
        for metric in ("WER", "MOS ovr", "MOS sig"):
            table.add_column(f"{name}\n{metric}")

    def cell(x: float | int | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for condition, row in scores.items():
        first = next(iter(row.values()))
        cells = []
        for name in names:
            s = row.get(name) or row.get("recording") or {}
            cells += [cell(s.get("wer")), cell(s.get("mos_overall")), cell(s.get("mos_signal"))]
        table.add_row(condition, str(first.get("n")), *cells)
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument(
        "--copy-only",
        type=Path,
        metavar="DATASET",
        help="no model: score DATASET's recordings and their copy-synthesis only",
    )
    parser.add_argument("--checkpoint", default="best.pt")
    parser.add_argument("--dataset", type=Path, help="corpus for the ceiling (default: demo)")
    parser.add_argument("--vocoders", nargs="+", default=list(VOCODERS), choices=VOCODERS)
    parser.add_argument("--hifigan-model", default="universal", choices=["universal", "ljspeech"])
    parser.add_argument("--ceiling-items", type=int, default=8)
    parser.add_argument("--teacher-forced", type=int, default=8, metavar="N")
    parser.add_argument("--seeds", type=int, default=3, help="prenet-dropout seeds to average")
    parser.add_argument(
        "--seen",
        type=int,
        default=0,
        help="speak the corpus's first N sentences instead of the unseen ones",
    )
    parser.add_argument("--out", type=Path, help="WAVs and scores.json (default RUN_DIR/...)")
    args = parser.parse_args()
    console = Console(width=150)
    torch.manual_seed(0)
    if args.copy_only:
        return copy_only(args.copy_only, args, console)
    if args.run_dir is None:
        parser.error("give RUN_DIR (or --copy-only DATASET)")
    loaded = load_model(args.run_dir / "checkpoints" / args.checkpoint, device="cpu")
    corpus = load_corpus(args.dataset or demo_corpus_path("en"), loaded.config.data)
    vocoders = make_vocoders(loaded.config.audio, args.vocoders, args.hifigan_model)
    for choice in vocoders.values():
        console.print(f"Vocoder: {choice.describe()}")
    groups = (
        {"seen": [e.text for e in corpus.entries[: args.seen]]}
        if args.seen
        else {"unseen": UNSEEN, "longer": LONGER}
    )
    out_dir = args.out or args.run_dir / "intelligibility"
    scores = score_checkpoint(
        loaded,
        corpus,
        vocoders,
        out_dir,
        seeds=range(args.seeds),
        n_teacher_forced=args.teacher_forced,
        n_copy=args.ceiling_items,
        groups=groups,
    )
    title = f"{args.run_dir} ({args.checkpoint}, epoch {loaded.epoch}), {args.seeds} seed(s)"
    print_table(scores, title, console)
    (out_dir / "scores.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    console.print(f"Wrote {out_dir / 'scores.json'} and the seed-0 WAVs beside it.")
    return 0


def copy_only(dataset: Path, args: argparse.Namespace, console: Console) -> int:
    """Recordings and each vocoder's copy of their mels, with the default audio settings."""
    from smart_tuner.config import DataConfig

    audio = AudioConfig()
    corpus = load_corpus(dataset, DataConfig())
    vocoders = make_vocoders(audio, args.vocoders, args.hifigan_model)
    out_dir = args.out or Path("runs") / f"copy-synthesis-{dataset.name}"
    raw, copies = copy_synthesis(corpus, args.ceiling_items, audio, vocoders, out_dir)
    scores = {
        "recordings": {"recording": raw.summary()},
        "copy-synthesis": {k: v.summary() for k, v in copies.items()},
    }
    print_table(scores, f"{dataset}: the vocoders' ceiling", console)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scores.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
