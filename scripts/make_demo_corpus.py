#!/usr/bin/env python3
"""Build the embedded demo corpora (LJSpeech layout) with an offline synthesizer.

Usage::

    .venv/bin/python scripts/make_demo_corpus.py [--lang en|ru|all] [--jobs N]

Reads one sentence per line from ``scripts/demo_text/<lang>.txt`` and writes

    smart_tuner/demo_corpus/<lang>/metadata.csv     (ID|text|text, UTF-8)
    smart_tuner/demo_corpus/<lang>/wavs/<ID>.flac   (16-bit FLAC, native rate)
    smart_tuner/demo_corpus/README.md               (provenance and totals)

Synthesis uses festival's ``text2wave`` (English: ``voice_kal_diphone`` from
festvox-kallpc16k; Russian: ``voice_msu_ru_nsh_clunits`` from festvox-ru).  If
festival cannot produce Russian audio, the whole Russian corpus falls back to
``espeak-ng -v ru``.  Each utterance is trimmed of leading/trailing silence
(keeping ~0.1 s) and peak-normalised to -1 dBFS.  Given the same inputs and the
same installed synthesizer packages the output is byte-for-byte identical.

Requires the Debian packages festival, festvox-kallpc16k, festvox-ru (and
optionally espeak-ng), plus numpy and soundfile from the project venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_DIR = REPO_ROOT / "scripts" / "demo_text"
OUT_ROOT = REPO_ROOT / "smart_tuner" / "demo_corpus"

PEAK_DBFS = -1.0
KEEP_SILENCE_S = 0.1
FRAME_S = 0.01
SILENCE_REL_DB = -40.0  # frame RMS this far below the loudest frame counts as silence
SYNTH_TIMEOUT_S = 120
# Sanity range for seconds of (trimmed) audio per character of text.
SEC_PER_CHAR_RANGE = (0.03, 0.15)


@dataclass(frozen=True)
class Engine:
    name: str  # human-readable, goes into the README
    package: str  # Debian package providing the voice
    voice: str
    command_doc: str  # command line as documented in the README

    def argv(self, text_path: str, wav_path: str) -> list[str]:
        if self.name == "festival":
            return ["text2wave", "-eval", f"({self.voice})", text_path, "-o", wav_path]
        if self.name == "espeak-ng":
            return ["espeak-ng", "-v", self.voice, "-f", text_path, "-w", wav_path]
        raise ValueError(self.name)


FESTIVAL_EN = Engine(
    "festival",
    "festvox-kallpc16k",
    "voice_kal_diphone",
    "text2wave -eval '(voice_kal_diphone)' SENTENCE.txt -o OUT.wav",
)
FESTIVAL_RU = Engine(
    "festival",
    "festvox-ru",
    "voice_msu_ru_nsh_clunits",
    "text2wave -eval '(voice_msu_ru_nsh_clunits)' SENTENCE.txt -o OUT.wav",
)
ESPEAK_RU = Engine(
    "espeak-ng", "espeak-ng-data", "ru", "espeak-ng -v ru -f SENTENCE.txt -w OUT.wav"
)

ENGINES: dict[str, list[Engine]] = {"en": [FESTIVAL_EN], "ru": [FESTIVAL_RU, ESPEAK_RU]}
PROBE_TEXT = {"en": "This is a short test.", "ru": "Это короткая проверка."}


# --------------------------------------------------------------------------- text


def read_sentences(lang: str) -> list[str]:
    path = TEXT_DIR / f"{lang}.txt"
    sentences: list[str] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = " ".join(raw.split())
        if not line or line.startswith("#"):
            continue
        problems = []
        if any(ch.isdigit() for ch in line):
            problems.append("contains a digit")
        if "|" in line:
            problems.append("contains '|'")
        if line in seen:
            problems.append("duplicate")
        if problems:
            raise SystemExit(f"{path}:{lineno}: {', '.join(problems)}: {line!r}")
        seen.add(line)
        sentences.append(line)
    if not sentences:
        raise SystemExit(f"{path}: no sentences")
    return sentences


# -------------------------------------------------------------------------- audio


def synthesize(engine: Engine, text: str, workdir: Path, tag: str) -> tuple[np.ndarray, int]:
    """Run the synthesizer on ``text``; return float64 mono samples and the sample rate."""
    txt = workdir / f"{tag}.txt"
    wav = workdir / f"{tag}.wav"
    txt.write_text(text + "\n", encoding="utf-8")
    try:
        proc = subprocess.run(
            engine.argv(str(txt), str(wav)),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SYNTH_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"{engine.name} failed (rc={proc.returncode}) on {text!r}: {err}")
        audio, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    finally:
        txt.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)
    return audio.mean(axis=1), int(rate)


def trim_and_normalise(x: np.ndarray, rate: int) -> np.ndarray:
    x = x - x.mean()  # remove any DC offset so silence detection and peak are honest
    frame = max(1, int(round(FRAME_S * rate)))
    n_frames = len(x) // frame
    if n_frames == 0:
        raise RuntimeError("empty audio")
    rms = np.sqrt(np.mean(x[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (SILENCE_REL_DB / 20))
    if rms.max() <= 0 or loud.size == 0:
        raise RuntimeError("silent audio")
    keep = int(round(KEEP_SILENCE_S * rate))
    start = max(0, loud[0] * frame - keep)
    end = min(len(x), (loud[-1] + 1) * frame + keep)
    y = x[start:end]
    peak = np.abs(y).max()
    y = y * (10 ** (PEAK_DBFS / 20) / peak)
    # Quantise here (round half to even, deterministic) so the FLAC holds exactly this.
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)


def pick_engine(lang: str, workdir: Path) -> Engine:
    for engine in ENGINES[lang]:
        exe = engine.argv("x", "y")[0]
        if shutil.which(exe) is None:
            print(f"[{lang}] {exe} not found, trying next engine", file=sys.stderr)
            continue
        try:
            audio, rate = synthesize(engine, PROBE_TEXT[lang], workdir, "probe")
            trim_and_normalise(audio, rate)
        except Exception as exc:  # any failure means "try the next engine"
            print(f"[{lang}] {engine.name} {engine.voice} unusable: {exc}", file=sys.stderr)
            continue
        return engine
    raise SystemExit(f"[{lang}] no working synthesizer")


# ------------------------------------------------------------------------- corpus


def build(lang: str, jobs: int) -> Engine:
    sentences = read_sentences(lang)
    out_dir = OUT_ROOT / lang
    wav_dir = out_dir / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    ids = [f"demo_{lang}_{i:04d}" for i in range(1, len(sentences) + 1)]

    with tempfile.TemporaryDirectory(prefix=f"demo_corpus_{lang}_") as tmp:
        workdir = Path(tmp)
        engine = pick_engine(lang, workdir)
        print(f"[{lang}] {len(sentences)} sentences, {engine.name} voice {engine.voice}")

        def one(item: tuple[str, str]) -> tuple[str, float, int]:
            utt_id, text = item
            audio, rate = synthesize(engine, text, workdir, utt_id)
            pcm = trim_and_normalise(audio, rate)
            sf.write(str(wav_dir / f"{utt_id}.flac"), pcm, rate, format="FLAC", subtype="PCM_16")
            return utt_id, len(pcm) / rate, rate

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, zip(ids, sentences, strict=True)))

    # Remove stale files from a previous run with more sentences.
    wanted = {f"{utt_id}.flac" for utt_id in ids}
    for stale in sorted(wav_dir.iterdir()):
        if stale.name not in wanted:
            stale.unlink()

    with open(out_dir / "metadata.csv", "w", encoding="utf-8", newline="\n") as f:
        for utt_id, text in zip(ids, sentences, strict=True):
            f.write(f"{utt_id}|{text}|{text}\n")

    durs = np.array([d for _, d, _ in results])
    per_char = durs / np.array([len(s) for s in sentences])
    lo, hi = SEC_PER_CHAR_RANGE
    for (utt_id, dur, _), text, pc in zip(results, sentences, per_char, strict=True):
        if not lo <= pc <= hi:
            print(f"[{lang}] WARNING {utt_id}: {dur:.2f} s for {len(text)} chars ({text!r})")
    print(
        f"[{lang}] durations min/median/max = "
        f"{durs.min():.2f}/{np.median(durs):.2f}/{durs.max():.2f} s, "
        f"s/char min/median/max = {per_char.min():.3f}/{np.median(per_char):.3f}/"
        f"{per_char.max():.3f}"
    )
    return engine


@dataclass
class Totals:
    count: int
    seconds: float
    bytes: int
    rate: int
    min_s: float
    median_s: float
    max_s: float


def corpus_totals(lang: str) -> Totals | None:
    out_dir = OUT_ROOT / lang
    meta = out_dir / "metadata.csv"
    if not meta.exists():
        return None
    durs, nbytes, rates = [], 0, set()
    for line in meta.read_text(encoding="utf-8").splitlines():
        utt_id = line.split("|", 1)[0]
        path = out_dir / "wavs" / f"{utt_id}.flac"
        info = sf.info(str(path))
        durs.append(info.frames / info.samplerate)
        rates.add(info.samplerate)
        nbytes += path.stat().st_size
    nbytes += meta.stat().st_size
    d = np.array(durs)
    return Totals(len(d), float(d.sum()), nbytes, min(rates), d.min(), float(np.median(d)), d.max())


def dpkg_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        return "unknown"
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def write_readme(totals: dict[str, Totals], engines: dict[str, Engine]) -> None:
    lang_names = {"en": "English", "ru": "Russian"}
    rows, sources = [], []
    for lang, t in totals.items():
        rows.append(
            f"| `{lang}` | {t.count} | {t.seconds / 60:.2f} | {t.min_s:.2f} / {t.median_s:.2f} / "
            f"{t.max_s:.2f} | {t.rate} | {t.bytes / 1e6:.2f} |"
        )
        e = engines[lang]
        sources.append(
            f"- **{lang_names[lang]}** (`{lang}/`): {e.name} "
            f"({e.name} {dpkg_version(e.name)}), voice `{e.voice}` from Debian package "
            f"`{e.package}` ({dpkg_version(e.package)}).  Per sentence: `{e.command_doc}`"
        )
    total_s = sum(t.seconds for t in totals.values())
    total_b = sum(t.bytes for t in totals.values())
    text = f"""# Demo corpora

Small speech corpora shipped with `smart_tuner` so the Tacotron2 autopilot can be
tried end to end without downloading a dataset.  Layout follows LJSpeech:

```
<lang>/metadata.csv      ID|text|normalised text   (UTF-8, one utterance per line)
<lang>/wavs/<ID>.flac    mono, 16-bit FLAC at the synthesizer's native rate
```

## How it was made

Generated by `scripts/make_demo_corpus.py` from the sentence lists in
`scripts/demo_text/en.txt` and `scripts/demo_text/ru.txt`:

```
.venv/bin/python scripts/make_demo_corpus.py --lang all
```

{chr(10).join(sources)}

Each synthesized utterance has its DC offset removed, leading/trailing silence
trimmed (frames more than {-SILENCE_REL_DB:.0f} dB below the loudest 10 ms frame count as silence;
{KEEP_SILENCE_S:.1f} s is kept at each end) and is peak-normalised to {PEAK_DBFS:.0f} dBFS.  The
output is deterministic for the same inputs and synthesizer package versions.
The text contains no digits, so the normalised column equals the raw text.

## Totals

| lang | utterances | minutes | duration min / median / max (s) | rate (Hz) | size (MB) |
|------|-----------:|--------:|:-------------------------------:|----------:|----------:|
{chr(10).join(rows)}
| all  | {sum(t.count for t in totals.values())} | {total_s / 60:.2f} | | | {total_b / 1e6:.2f} |

## Licence

The sentences were written for this project and are distributed with it.  The
audio is synthetic speech produced by free software: the Festival Speech
Synthesis System and its voices (festvox-kallpc16k, festvox-ru) are free
software under permissive licences (see `/usr/share/doc/<package>/copyright`).
No recordings of real speakers are included.  The voices are low-fidelity
(16 kHz diphone / unit-selection); the corpora exist for smoke tests and demos,
not for training a production model.
"""
    (OUT_ROOT / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=["en", "ru", "all"], default="all")
    parser.add_argument(
        "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="parallel synth processes"
    )
    args = parser.parse_args(argv)
    langs = ["en", "ru"] if args.lang == "all" else [args.lang]
    engines = {lang: build(lang, max(1, args.jobs)) for lang in langs}

    # The README describes every corpus on disk, including ones not rebuilt in this run; for
    # those the engine is re-selected the same way build() selects it.
    totals = {lang: t for lang in ("en", "ru") if (t := corpus_totals(lang)) is not None}
    for lang in totals:
        if lang not in engines:
            with tempfile.TemporaryDirectory(prefix="demo_corpus_probe_") as tmp:
                engines[lang] = pick_engine(lang, Path(tmp))
    write_readme(totals, engines)
    for lang, t in totals.items():
        print(
            f"[{lang}] total: {t.count} utterances, {t.seconds / 60:.2f} min, "
            f"{t.bytes / 1e6:.2f} MB, {t.rate} Hz"
        )
    print(
        f"[all] total: {sum(t.count for t in totals.values())} utterances, "
        f"{sum(t.seconds for t in totals.values()) / 60:.2f} min, "
        f"{sum(t.bytes for t in totals.values()) / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
