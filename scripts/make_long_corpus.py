#!/usr/bin/env python3
"""Build a second English corpus (LJSpeech layout) of long utterances for alignment benchmarks.

Usage::

    .venv/bin/python scripts/make_long_corpus.py [--out DIR] [--max-utterances N] [--jobs N]
                                                 [--voice en-us+f3] [--speed 150]
                                                 [--min-seconds 5.0] [--max-seconds 7.0]

The voice differs from the embedded demo corpus (festival ``kal_diphone``): speech is
synthesized with ``espeak-ng`` (default voice ``en-us+f3``, a female variant, at 150 words
per minute, native 22050 Hz).  Utterances are built by joining consecutive sentences of
``scripts/demo_text/en.txt`` and ``scripts/demo_text/en_long.txt`` (never across the two
files) so that every kept utterance lasts between ``--min-seconds`` and ``--max-seconds``
after silence trimming:

1. every sentence is synthesized on its own to measure its trimmed duration;
2. each file is split into groups of consecutive sentences whose predicted duration (sum of
   the sentence durations plus an inter-sentence pause, calibrated from step 3) lies inside
   the window with a small safety margin; sentences that fit no group are skipped;
3. the groups are synthesized as one text each, trimmed and measured; only groups whose
   actual duration lies in the window are kept, the rest are re-grouped (steps 2-3 are
   repeated on the unused sentences, never retrying a rejected span).

Kept utterances are numbered in text order (``long_0001``, ...) and the first
``--max-utterances`` are written, so a smaller limit yields a prefix of a larger corpus:

    DIR/metadata.csv         ID|text|text (UTF-8)
    DIR/wavs/<ID>.flac       mono 16-bit FLAC at espeak-ng's native rate
    DIR/README.md            provenance and totals

Audio processing (DC removal, trimming leading/trailing silence keeping ~0.1 s, peak
normalisation to -1 dBFS, 16-bit quantisation) and sentence-file validation are shared with
``scripts/make_demo_corpus.py``.  Given the same inputs and the same espeak-ng version the
output is byte-for-byte identical.  Requires the Debian package espeak-ng.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "corpora" / "en_long"
TEXT_FILES = ("en", "en_long")  # scripts/demo_text/<name>.txt, joined in this order
ID_PREFIX = "long_"

DEFAULT_VOICE = "en-us+f3"
DEFAULT_SPEED = 150  # words per minute
DEFAULT_MAX_UTTERANCES = 200
DEFAULT_WINDOW = (5.0, 7.0)  # seconds of trimmed audio per utterance
PLAN_MARGIN_S = 0.15  # keep predictions this far inside the window
TARGET_S = 6.0  # tie-break: prefer predictions close to this (clamped into the window)
MAX_SENTENCES_PER_UTT = 6
INITIAL_GAP_S = 0.26  # trimmed(a + b) - trimmed(a) - trimmed(b) for en-us+f3 at 150 wpm
MAX_ROUNDS = 5


def _load_demo_module() -> ModuleType:
    """Import scripts/make_demo_corpus.py (not a package) to reuse its helpers."""
    path = Path(__file__).resolve().parent / "make_demo_corpus.py"
    spec = importlib.util.spec_from_file_location("make_demo_corpus", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered while loading
    spec.loader.exec_module(module)
    return module


demo = _load_demo_module()


@dataclass(frozen=True)
class EspeakEngine(demo.Engine):
    """espeak-ng with an explicit speed; plugs into ``demo.synthesize``."""

    speed: int = DEFAULT_SPEED

    def argv(self, text_path: str, wav_path: str) -> list[str]:
        return [
            "espeak-ng",
            "-v",
            self.voice,
            "-s",
            str(self.speed),
            "-f",
            text_path,
            "-w",
            wav_path,
        ]


def make_engine(voice: str, speed: int) -> EspeakEngine:
    return EspeakEngine(
        "espeak-ng",
        "espeak-ng-data",
        voice,
        f"espeak-ng -v {voice} -s {speed} -f UTTERANCE.txt -w OUT.wav",
        speed,
    )


# --------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Sentence:
    text: str
    source: int  # index into TEXT_FILES; groups never span two sources


def read_all_sentences() -> list[Sentence]:
    sentences: list[Sentence] = []
    seen: dict[str, str] = {}
    for source, name in enumerate(TEXT_FILES):
        for text in demo.read_sentences(name):  # validates digits, '|', duplicates per file
            if text in seen:
                raise SystemExit(f"{name}.txt: sentence also in {seen[text]}.txt: {text!r}")
            seen[text] = name
            sentences.append(Sentence(text, source))
    return sentences


# ----------------------------------------------------------------------- planning

Span = tuple[int, int]  # [start, end) indices into the sentence list


def plan_run(
    start: int,
    end: int,
    durs: list[float],
    gap: float,
    window: tuple[float, float],
    rejected: set[Span],
) -> list[Span]:
    """Split sentences [start, end) into the most groups whose predicted length fits.

    Dynamic programme over positions: each sentence either starts a group of up to
    ``MAX_SENTENCES_PER_UTT`` consecutive sentences or is skipped.  Maximises the number of
    groups, then minimises the total distance of the predictions from the target length.
    """
    lo, hi = window[0] + PLAN_MARGIN_S, window[1] - PLAN_MARGIN_S
    target = min(max(TARGET_S, lo), hi)
    n = end - start
    # best[i] = (groups, -cost) for sentences start+i .. end; choice[i] = group end or None
    best: list[tuple[int, float]] = [(0, 0.0)] * (n + 1)
    choice: list[int | None] = [None] * (n + 1)
    for i in range(n - 1, -1, -1):
        best[i], choice[i] = best[i + 1], None  # skip sentence start+i
        total = 0.0
        for k in range(1, MAX_SENTENCES_PER_UTT + 1):
            if i + k > n:
                break
            total += durs[start + i + k - 1] + (gap if k > 1 else 0.0)
            if total > hi:
                break
            span = (start + i, start + i + k)
            if total < lo or span in rejected:
                continue
            groups, neg_cost = best[i + k]
            cand = (groups + 1, neg_cost - abs(total - target))
            if cand > best[i]:
                best[i], choice[i] = cand, i + k
    spans: list[Span] = []
    i = 0
    while i < n:
        nxt = choice[i]
        if nxt is None:
            i += 1
        else:
            spans.append((start + i, start + nxt))
            i = nxt
    return spans


def free_runs(sentences: list[Sentence], used: set[int]) -> list[Span]:
    """Maximal runs of consecutive unused sentences from the same source file."""
    runs: list[Span] = []
    i = 0
    while i < len(sentences):
        if i in used:
            i += 1
            continue
        j = i + 1
        while j < len(sentences) and j not in used and sentences[j].source == sentences[i].source:
            j += 1
        runs.append((i, j))
        i = j
    return runs


# ------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Utterance:
    span: Span
    text: str
    pcm: np.ndarray  # int16, trimmed and normalised
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.rate


class Synth:
    def __init__(self, engine: EspeakEngine, workdir: Path, jobs: int) -> None:
        self.engine = engine
        self.workdir = workdir
        self.jobs = jobs
        self.calls = 0

    def many(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        """Synthesize, trim and normalise each text; results in input order."""
        base = self.calls
        self.calls += len(texts)

        def one(item: tuple[int, str]) -> tuple[np.ndarray, int]:
            idx, text = item
            audio, rate = demo.synthesize(self.engine, text, self.workdir, f"u{idx:06d}")
            return demo.trim_and_normalise(audio, rate), rate

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            return list(pool.map(one, enumerate(texts, base)))


def build_utterances(
    sentences: list[Sentence], synth: Synth, window: tuple[float, float]
) -> list[Utterance]:
    singles = synth.many([s.text for s in sentences])
    durs = [len(pcm) / rate for pcm, rate in singles]
    print(
        f"{len(sentences)} sentences, single-sentence durations min/median/max = "
        f"{min(durs):.2f}/{np.median(durs):.2f}/{max(durs):.2f} s"
    )

    kept: list[Utterance] = []
    used: set[int] = set()
    rejected: set[Span] = set()
    gaps: list[float] = []  # measured inter-sentence pauses from multi-sentence groups
    gap = INITIAL_GAP_S
    for round_no in range(1, MAX_ROUNDS + 1):
        plan = [
            span
            for run in free_runs(sentences, used)
            for span in plan_run(*run, durs=durs, gap=gap, window=window, rejected=rejected)
        ]
        if not plan:
            break
        texts = [" ".join(s.text for s in sentences[a:b]) for a, b in plan]
        results = synth.many(texts)
        n_ok = 0
        for (a, b), text, (pcm, rate) in zip(plan, texts, results, strict=True):
            utt = Utterance((a, b), text, pcm, rate)
            if b - a > 1:
                gaps.append((utt.seconds - sum(durs[a:b])) / (b - a - 1))
            if window[0] <= utt.seconds <= window[1]:
                kept.append(utt)
                used.update(range(a, b))
                n_ok += 1
            else:
                rejected.add((a, b))
        if gaps:
            gap = float(np.median(gaps))
        print(
            f"round {round_no}: planned {len(plan)} groups, kept {n_ok}, "
            f"rejected {len(plan) - n_ok}; inter-sentence pause now {gap:.3f} s"
        )
    kept.sort(key=lambda u: u.span)
    return kept


def write_corpus(out_dir: Path, utts: list[Utterance]) -> list[str]:
    wav_dir = out_dir / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    ids = [f"{ID_PREFIX}{i:04d}" for i in range(1, len(utts) + 1)]
    for utt_id, utt in zip(ids, utts, strict=True):
        sf.write(
            str(wav_dir / f"{utt_id}.flac"), utt.pcm, utt.rate, format="FLAC", subtype="PCM_16"
        )
    wanted = {f"{utt_id}.flac" for utt_id in ids}
    for stale in sorted(wav_dir.iterdir()):  # left over from a run with more utterances
        if stale.name not in wanted:
            stale.unlink()
    with open(out_dir / "metadata.csv", "w", encoding="utf-8", newline="\n") as f:
        for utt_id, utt in zip(ids, utts, strict=True):
            f.write(f"{utt_id}|{utt.text}|{utt.text}\n")
    return ids


def write_readme(
    out_dir: Path,
    utts: list[Utterance],
    engine: EspeakEngine,
    args: argparse.Namespace,
    n_sentences: int,
) -> None:
    d = np.array([u.seconds for u in utts])
    n_bytes = sum(p.stat().st_size for p in (out_dir / "wavs").iterdir())
    n_bytes += (out_dir / "metadata.csv").stat().st_size
    per_utt = np.array([u.span[1] - u.span[0] for u in utts])
    counts = ", ".join(
        f"{int((per_utt == k).sum())} with {k}"
        for k in range(1, per_utt.max() + 1)
        if (per_utt == k).any()
    )
    invocation = (
        f".venv/bin/python scripts/make_long_corpus.py --voice {engine.voice} "
        f"--speed {engine.speed} --max-utterances {args.max_utterances} "
        f"--min-seconds {args.min_seconds:g} --max-seconds {args.max_seconds:g}"
    )
    span = f"{args.min_seconds:g}-{args.max_seconds:g} s"
    row = (
        f"| {len(utts)} | {d.sum() / 60:.2f} | {d.min():.2f} / {d.mean():.2f} / {d.max():.2f} "
        f"| {utts[0].rate} | {n_bytes / 1e6:.2f} |"
    )
    text = f"""# Long-utterance English corpus

Synthetic English speech for alignment benchmarks: a different voice from the embedded
demo corpus (festival `kal_diphone`) and longer utterances ({span} each).
Layout follows LJSpeech:

```
metadata.csv      ID|text|normalised text   (UTF-8, one utterance per line)
wavs/<ID>.flac    mono, 16-bit FLAC at {utts[0].rate} Hz (espeak-ng's native rate)
```

## How it was made

Generated by `scripts/make_long_corpus.py`:

```
{invocation}
```

- Engine: espeak-ng {demo.dpkg_version("espeak-ng")} (Debian package `espeak-ng`; data
  package `espeak-ng-data` {demo.dpkg_version("espeak-ng-data")}), voice `{engine.voice}`,
  speed {engine.speed} words per minute.
- Per utterance (text passed in a file, no shell):
  `{engine.command_doc}`
- Text: consecutive sentences of `scripts/demo_text/en.txt` and
  `scripts/demo_text/en_long.txt` ({n_sentences} sentences, written for this project) joined
  with single spaces, never across the two files.  Groups were planned from the measured
  durations of the individual sentences and kept only if the synthesized, trimmed utterance
  lasts {span}; sentences that fit no group were skipped.
  Utterances by number of sentences joined: {counts}.
- Audio: DC offset removed, leading/trailing silence trimmed (frames more than
  {-demo.SILENCE_REL_DB:.0f} dB below the loudest 10 ms frame count as silence;
  {demo.KEEP_SILENCE_S:.1f} s kept at each end), peak-normalised to {demo.PEAK_DBFS:.0f} dBFS.
- Deterministic: the same inputs and espeak-ng version give byte-identical output.
  The text contains no digits, so the normalised column equals the raw text.

## Totals

| utterances | minutes | duration min / mean / max (s) | rate (Hz) | size (MB) |
|-----------:|--------:|:-----------------------------:|----------:|----------:|
{row}

## Licence

The sentences were written for this project.  The audio is synthetic speech from
espeak-ng (GPL-3.0-or-later, see `/usr/share/doc/espeak-ng/copyright`); no recordings of
real speakers are included.  The voice is a formant synthesizer: fine for alignment and
pipeline benchmarks, not for training a production model.
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--max-utterances", type=int, default=DEFAULT_MAX_UTTERANCES, help="keep at most N"
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel synth processes")
    parser.add_argument("--voice", default=DEFAULT_VOICE, help="espeak-ng voice")
    parser.add_argument("--speed", type=int, default=DEFAULT_SPEED, help="words per minute")
    parser.add_argument("--min-seconds", type=float, default=DEFAULT_WINDOW[0])
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_WINDOW[1])
    args = parser.parse_args(argv)
    if args.max_utterances < 1:
        parser.error("--max-utterances must be at least 1")
    if not 0 < args.min_seconds < args.max_seconds - 2 * PLAN_MARGIN_S:
        parser.error(f"need 0 < --min-seconds < --max-seconds - {2 * PLAN_MARGIN_S:g}")
    window = (args.min_seconds, args.max_seconds)

    if shutil.which("espeak-ng") is None:
        print(
            "error: espeak-ng not found; install it with `sudo apt-get install espeak-ng`",
            file=sys.stderr,
        )
        return 1
    engine = make_engine(args.voice, args.speed)
    sentences = read_all_sentences()
    out_dir: Path = args.out.resolve()

    with tempfile.TemporaryDirectory(prefix="long_corpus_") as tmp:
        synth = Synth(engine, Path(tmp), max(1, args.jobs))
        try:
            synth.many(["This is a short test."])
            utts = build_utterances(sentences, synth, window)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            # synthesizer failure (bad voice, timeout, ...): report it without a traceback
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if not utts:
        print(f"error: no utterance lasts {window[0]:g}-{window[1]:g} s", file=sys.stderr)
        return 1
    if len(utts) < args.max_utterances:
        print(f"note: only {len(utts)} utterances fit the window (asked for {args.max_utterances})")
    utts = utts[: args.max_utterances]

    out_dir.mkdir(parents=True, exist_ok=True)
    write_corpus(out_dir, utts)
    write_readme(out_dir, utts, engine, args, len(sentences))
    d = np.array([u.seconds for u in utts])
    print(
        f"wrote {len(utts)} utterances to {out_dir}: {d.sum() / 60:.2f} min, "
        f"duration min/mean/max = {d.min():.2f}/{d.mean():.2f}/{d.max():.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
