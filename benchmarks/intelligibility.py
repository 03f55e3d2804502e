"""Listen by numbers: word error rate of a trained model's speech on sentences it never saw.

    python benchmarks/intelligibility.py RUN_DIR [--dataset DIR] [--checkpoint best.pt]

Synthesizes a fixed set of unseen English sentences with the run's checkpoint and the
Griffin-Lim vocoder, transcribes them with PocketSphinx (offline, English) and prints the
word error rate (WER) of each, averaged over --seeds prenet-dropout seeds: sentences as long
as the demo corpus's, and longer ones apart (does the model carry over to them?). The same
recogniser on the corpus's own recordings, passed through the same mel -> Griffin-Lim path,
gives the ceiling: a model cannot beat its vocoder.
WER 1.0 = nothing right; the recogniser is imperfect, so compare against the ceiling.
With --teacher-forced N it also speaks the corpus's first N items teacher-forced (the true
previous frames and the model's own alignment): bad there means the spectra themselves are
not learned yet, good there but bad free-running means the alignment or durations fail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.analysis.asr import listen, word_error_rate  # noqa: E402
from smart_tuner.cli import DEMO_SENTENCES, demo_corpus_path  # noqa: E402
from smart_tuner.data import Corpus, load_corpus  # noqa: E402
from smart_tuner.data.features import MelSpectrogram  # noqa: E402
from smart_tuner.model.vocoder import GriffinLim  # noqa: E402
from smart_tuner.synthesize import (  # noqa: E402
    LoadedModel,
    SynthesisError,
    load_model,
    synthesize,
)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", default="best.pt")
    parser.add_argument("--dataset", type=Path, help="corpus for the ceiling (default: demo)")
    parser.add_argument("--ceiling-items", type=int, default=8)
    parser.add_argument(
        "--seen",
        type=int,
        default=0,
        help="speak the corpus's first N sentences instead (ones the model may have trained "
        "on): tells too little training from too little generalisation",
    )
    parser.add_argument(
        "--teacher-forced",
        type=int,
        default=0,
        metavar="N",
        help="also score the model's teacher-forced mels of the corpus's first N items",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="average over this many prenet-dropout seeds (one seed's WER moves by ~0.1)",
    )
    parser.add_argument("--out", type=Path, help="where to write the WAVs (default RUN_DIR)")
    args = parser.parse_args()
    console = Console(width=150)
    torch.manual_seed(0)
    loaded = load_model(args.run_dir / "checkpoints" / args.checkpoint, device="cpu")
    out_dir = args.out or args.run_dir / "intelligibility"
    audio = loaded.config.audio

    corpus = load_corpus(args.dataset or demo_corpus_path("en"), loaded.config.data)
    if args.seen:
        groups = {"corpus": [e.text for e in corpus.entries[: args.seen]]}
    else:
        groups = {"unseen": list(UNSEEN), "longer": list(LONGER)}
    seeds = list(range(args.seeds))
    means = {}
    for kind, sentences in groups.items():
        table = Table(title=f"{kind} sentences: {args.run_dir} (seed 0 shown)")
        for col in ("sentence", "seconds", "attention", "WER", "heard"):
            table.add_column(col)
        wers = []
        for seed in seeds:
            for i, sentence in enumerate(sentences):
                wav_path = out_dir / f"{kind}_{i}.wav" if seed == 0 else out_dir / "seeds.wav"
                score, row = score_sentence(loaded, sentence, wav_path, seed)
                wers.append(score)
                if seed == 0:
                    table.add_row(sentence[:40], *row)
        for scratch in ("seeds.wav", "seeds.alignment.png", "seeds.mel.png"):
            (out_dir / scratch).unlink(missing_ok=True)
        console.print(table)
        means[kind] = (float(np.mean(wers)), len(sentences))

    mel = MelSpectrogram(audio)
    vocoder = GriffinLim(audio)
    ceiling = []
    for item in corpus.entries[: args.ceiling_items]:
        resynth = vocoder(recording_mel(item.audio_path, audio.sampling_rate, mel)[0])
        ceiling.append(word_error_rate(item.text, listen(resynth, audio.sampling_rate)))
    forced = teacher_forced_wers(loaded, corpus, args.teacher_forced, mel, vocoder)
    per_seed = f" x {len(seeds)} prenet-dropout seeds" if len(seeds) > 1 else ""
    line = "mean WER: " + ", ".join(
        f"model {wer:.2f} on {n} {kind} sentences{per_seed}" for kind, (wer, n) in means.items()
    )
    if ceiling:
        line += (
            f"; ceiling (recordings through the same vocoder) {np.mean(ceiling):.2f} on "
            f"{len(ceiling)} corpus items"
        )
    if forced:
        line += f"; teacher-forced {np.mean(forced):.2f} on {len(forced)} corpus items"
    console.print(line)
    return 0


def score_sentence(
    loaded: LoadedModel, sentence: str, wav_path: Path, seed: int
) -> tuple[float, tuple[str, str, str, str]]:
    """Word error rate of one synthesized sentence, and its table row (seconds, attention,
    WER, heard). Prenet dropout stays on at inference, so the seed changes what is said."""
    try:
        result = synthesize(loaded, sentence, wav_path, seed=seed)
    except SynthesisError as exc:
        return 1.0, ("-", "-", "1.00", f"[red]{exc}[/red]")
    if result.wav_path is None:
        return 1.0, ("-", f"{result.attention_score:.2f}", "1.00", "no stop")
    wav, sr = sf.read(result.wav_path, dtype="float32")
    hyp = listen(wav, sr)
    score = word_error_rate(sentence, hyp)
    row = (f"{len(wav) / sr:.2f}", f"{result.attention_score:.2f}", f"{score:.2f}")
    return score, (*row, " ".join(hyp)[:60])


def recording_mel(path: Path, rate: int, mel: MelSpectrogram) -> torch.Tensor:
    """[1, n_mel, T] log-mel of a corpus recording, mono, at the model's rate."""
    wav, sr = sf.read(path, dtype="float32")
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    return mel(torch.from_numpy(soxr.resample(wav, sr, rate))[None])


def teacher_forced_wers(
    loaded: LoadedModel, corpus: Corpus, n: int, mel: MelSpectrogram, vocoder: GriffinLim
) -> list[float]:
    """WER of the postnet mels the model predicts from the true previous frames."""
    audio, r = loaded.config.audio, loaded.model.n_frames_per_step
    scores = []
    for item in corpus.entries[:n]:
        target = recording_mel(item.audio_path, audio.sampling_rate, mel)
        frames = target.shape[2]
        padded = torch.nn.functional.pad(target, (0, (-frames) % r))
        ids = torch.tensor([loaded.frontend(item.text)])
        with torch.no_grad():
            out = loaded.model(ids, torch.tensor([ids.shape[1]]), padded, torch.tensor([frames]))
        predicted = out.mel_outputs_postnet[0, :, :frames].float()
        heard = listen(vocoder(predicted), audio.sampling_rate)
        scores.append(word_error_rate(item.text, heard))
    return scores


if __name__ == "__main__":
    raise SystemExit(main())
