#!/usr/bin/env python3
"""Calibration corpora for the voice-complexity detectors: many voices, controlled variations.

Usage::

    .venv/bin/python benchmarks/calibration_corpora.py OUT [--utterances N]

For every voice (Debian's espeak-ng, flite and festival voices; English and Russian) it writes
small LJSpeech corpora (OUT/<voice>/<variant>/metadata.csv + wavs/) and OUT/manifest.json:

- ``neutral_a`` and ``neutral_b``: the voice unmodified, two different sets of sentences;
- ``tempo_<s>``: the neutral_a audio with per-utterance tempo factors cycling over
  {1/f, 1, f} (sox ``tempo``, pitch kept);
- ``pitch_<s>``: per-utterance pitch shifts cycling over {-d, 0, +d} semitones (sox ``pitch``);
- ``expressive_<s>``: styles mixed between utterances, as in emotional corpora: Praat PSOLA
  (Manipulation, overlap-add) multiplies each utterance's F0 excursions around its median (in
  semitones) by a factor cycling over {1/sqrt(s), 1, s} (+-10 %), adds a loudness contour that
  follows the pitch (louder when higher) and sets the utterance's level 4 dB per doubling of the
  factor (subdued utterances softer, lively ones louder);
- ``accent_<s>`` (English espeak-ng voices only): the voice's own phoneme string with a
  consistent set of foreign-accent substitutions (TH->s, DH->z, w->v, KIT->FLEECE, TRAP->DRESS,
  NG->n, STRUT->PALM, final z->s), more rules at higher strengths, spoken back by espeak-ng.

Strengths are ``mild``, ``moderate`` and ``strong`` (see STRENGTHS). Each voice is either in
the ``tune`` part (thresholds are chosen there) or the ``held_out`` part (only reported).
Rebuilding is skipped for corpora whose metadata already exists.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import parselmouth
import soundfile as sf
from parselmouth.praat import call

REPO = Path(__file__).resolve().parents[1]
TEXT = REPO / "scripts" / "demo_text"


@dataclass(frozen=True)
class Voice:
    name: str
    engine: str  # espeak-ng | flite | festival
    language: str
    arg: str  # espeak-ng voice, flite voice or festival voice function
    split: str  # tune | held_out


VOICES = (
    Voice("espeak_en_us", "espeak-ng", "en", "en-us", "tune"),
    Voice("espeak_en_us_f2", "espeak-ng", "en", "en-us+f2", "tune"),
    Voice("espeak_en_gb_m3", "espeak-ng", "en", "en-gb+m3", "tune"),
    Voice("espeak_en_rp_f4", "espeak-ng", "en", "en-gb-x-rp+f4", "held_out"),
    Voice("espeak_en_us_m7", "espeak-ng", "en", "en-us+m7", "held_out"),
    Voice("espeak_en_us_m2", "espeak-ng", "en", "en-us+m2", "tune"),
    Voice("espeak_en_us_f3", "espeak-ng", "en", "en-us+f3", "held_out"),
    Voice("flite_slt", "flite", "en", "slt", "tune"),
    Voice("flite_rms", "flite", "en", "rms", "tune"),
    Voice("flite_kal16", "flite", "en", "kal16", "held_out"),
    Voice("flite_awb", "flite", "en", "awb", "held_out"),
    Voice("festival_kal", "festival", "en", "voice_kal_diphone", "tune"),
    Voice("festival_slt_hts", "festival", "en", "voice_cmu_us_slt_arctic_hts", "held_out"),
    Voice("espeak_ru", "espeak-ng", "ru", "ru", "tune"),
    Voice("espeak_ru_f3", "espeak-ng", "ru", "ru+f3", "held_out"),
    Voice("festival_ru", "festival", "ru", "voice_msu_ru_nsh_clunits", "tune"),
)

STRENGTHS = {
    "tempo": {"mild": 1.15, "moderate": 1.3, "strong": 1.6},  # tempo factor f
    "pitch": {"mild": 2.0, "moderate": 4.0, "strong": 6.0},  # semitones d
    "expressive": {"mild": 1.5, "moderate": 2.0, "strong": 3.0},  # F0 excursion factor s
    "accent": {"mild": 2, "moderate": 4, "strong": 8},  # substitution rules applied
}

# espeak-ng English phoneme mnemonics: (pattern, replacement), applied to whole phonemes.
ACCENT_RULES = (
    (r"T", "s"),  # think -> sink
    (r"D", "z"),  # this -> zis
    (r"w", "v"),  # we -> ve
    (r"(?<![aeOo])I(?![@2#])", "i:"),  # kit -> keet
    (r"a(?![IU#@])", "E"),  # trap -> trep
    (r"N", "n"),  # sing -> sin
    (r"V", "A:"),  # strut -> strat
    (r"z(?= |$)", "s"),  # final devoicing: dogs -> docks
)


def sentences(language: str) -> list[str]:
    lines = (TEXT / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()]


def run(cmd: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


def espeak_phonemes(voice: str, text: str) -> list[str]:
    """espeak-ng's phoneme mnemonics for `text`, one string per clause."""
    out = run(["espeak-ng", "-q", "-x", "-v", voice, text])
    return [line.strip() for line in out.splitlines() if line.strip()]


def accented(clauses: list[str], rules: int, offset: int) -> list[str]:
    """Apply `rules` substitution rules (starting at `offset` in ACCENT_RULES) everywhere."""
    chosen = [ACCENT_RULES[(offset + k) % len(ACCENT_RULES)] for k in range(rules)]
    out = []
    for clause in clauses:
        for pattern, repl in chosen:
            clause = re.sub(pattern, repl, clause)
        out.append(clause)
    return out


def synthesize(voice: Voice, text: str, out: Path, accent_rules: int = 0, offset: int = 0):
    if voice.engine == "espeak-ng":
        if voice.language == "en":  # neutral and accented both go through the phoneme string
            clauses = accented(espeak_phonemes(voice.arg, text), accent_rules, offset)
            text = "[[" + "]], [[".join(clauses) + "]]."
        run(["espeak-ng", "-v", voice.arg, "-w", str(out), text])
    elif voice.engine == "flite":
        run(["flite", "-voice", voice.arg, "-t", text, "-o", str(out)])
    else:
        run(["text2wave", "-eval", f"({voice.arg})", "-o", str(out)], stdin=text)


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    peak = float(np.max(np.abs(wav))) or 1.0
    return (0.5 * wav / peak).astype(np.float32), int(sr)


def sox(wav: np.ndarray, sr: int, *effect: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, wav, sr)
        run(["sox", str(src), str(dst), *effect])
        out, _ = sf.read(dst, dtype="float32")
    return out


def expressive(wav: np.ndarray, sr: int, factor: float, db_per_st: float = 0.6) -> np.ndarray:
    """PSOLA: F0 excursions around the median x factor (in semitones, kept within 70-500 Hz),
    and a loudness contour that follows the pitch (louder when higher)."""
    sound = parselmouth.Sound(wav.astype(np.float64), sr)
    manipulation = call(sound, "To Manipulation", 0.01, 65.0, 600.0)
    tier = call(manipulation, "Extract pitch tier")
    median = call(
        sound.to_pitch_ac(pitch_floor=65.0, pitch_ceiling=600.0), "Get quantile", 0, 0, 0.5, "Hertz"
    )
    formula = f"min(500, max(70, {median} * exp({factor} * ln(self / {median}))))"
    call(tier, "Formula", formula)
    call([tier, manipulation], "Replace pitch tier")
    y = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    track = parselmouth.Sound(y, sr).to_pitch_ac(pitch_floor=65.0, pitch_ceiling=600.0)
    f0 = track.selected_array["frequency"]
    st = np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / median), 0.0)
    gain_db = np.interp(np.arange(len(y)) / sr, track.xs(), db_per_st * st)
    y = y * 10.0 ** (np.clip(gain_db, -12.0, 12.0) / 20.0)
    return (0.5 * y / max(1e-6, float(np.max(np.abs(y))))).astype(np.float32)


def variant(base: list[tuple[np.ndarray, int]], prop: str, value: float, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for k, (wav, sr) in enumerate(base):
        step = k % 3 - 1  # -1, 0, +1
        if prop == "tempo":
            y = wav if step == 0 else sox(wav, sr, "tempo", "-s", f"{value**step:.4f}")
        elif prop == "pitch":
            y = wav if step == 0 else sox(wav, sr, "pitch", f"{100 * value * step:.0f}")
        else:  # styles mixed between utterances, as in emotional corpora: subdued, plain, lively
            factor = (value**-0.5, 1.0, value)[step + 1] * float(rng.uniform(0.9, 1.1))
            y = expressive(wav, sr, factor) * 10.0 ** (4.0 * np.log2(factor) / 20.0)
        out.append((y.astype(np.float32), sr))
    return out


def write_corpus(root: Path, rows: list[tuple[str, str, np.ndarray, int]]) -> None:
    wavs = root / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    for uid, _, wav, sr in rows:
        sf.write(wavs / f"{uid}.wav", np.clip(wav, -1.0, 1.0), sr, subtype="PCM_16")
    text = "".join(f"{uid}|{t}\n" for uid, t, _, _ in rows)
    (root / "metadata.csv").write_text(text, encoding="utf-8")


def build_voice(voice: Voice, out: Path, n: int, index: int) -> list[dict]:
    texts = sentences(voice.language)
    start = (index * 2 * n) % max(1, len(texts) - 2 * n)
    set_a, set_b = texts[start : start + n], texts[start + n : start + 2 * n]
    entries: list[dict] = []

    def record(name: str, prop: str, strength: str) -> Path:
        entries.append(
            {
                **asdict(voice),
                "voice": voice.name,
                "variant": name,
                "property": prop,
                "strength": strength,
                "path": str(out / voice.name / name),
            }
        )
        return out / voice.name / name

    def audio(texts_: list[str], rules: int = 0) -> list[tuple[np.ndarray, int]]:
        got = []
        with tempfile.TemporaryDirectory() as tmp:
            for k, text in enumerate(texts_):
                path = Path(tmp) / f"{k}.wav"
                synthesize(voice, text, path, rules, offset=index)
                got.append(read_mono(path))
        return got

    base_a: list[tuple[np.ndarray, int]] | None = None
    for name, texts_ in (("neutral_a", set_a), ("neutral_b", set_b)):
        root = record(name, "neutral", "none")
        if not (root / "metadata.csv").exists():
            wavs = audio(texts_)
            write_corpus(
                root,
                [
                    (f"{name}_{k:02d}", t, w, s)
                    for k, (t, (w, s)) in enumerate(zip(texts_, wavs, strict=True))
                ],
            )
    for prop, levels in STRENGTHS.items():
        if prop == "accent" and not (voice.engine == "espeak-ng" and voice.language == "en"):
            continue
        for strength, value in levels.items():
            name = f"{prop}_{strength}"
            root = record(name, prop, strength)
            if (root / "metadata.csv").exists():
                continue
            if prop == "accent":
                wavs = audio(set_a, int(value))
            else:
                if base_a is None:
                    base_a = audio(set_a)
                wavs = variant(base_a, prop, float(value), seed=index)
            write_corpus(
                root,
                [
                    (f"{name}_{k:02d}", t, w, s)
                    for k, (t, (w, s)) in enumerate(zip(set_a, wavs, strict=True))
                ],
            )
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--utterances", type=int, default=10, help="per corpus (>= 8 for flags)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--voices", nargs="*", help="only these voice names")
    args = ap.parse_args(argv)
    missing = [t for t in ("espeak-ng", "flite", "text2wave", "sox") if not shutil.which(t)]
    if missing:
        print(
            f"missing programs: {', '.join(missing)} (apt-get install espeak-ng flite "
            "festival festvox-kallpc16k festvox-us-slt-hts festvox-ru sox)",
            file=sys.stderr,
        )
        return 2
    voices = [v for v in VOICES if not args.voices or v.name in args.voices]
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(build_voice, v, args.out, args.utterances, VOICES.index(v)) for v in voices
        ]
        entries = [e for f in futures for e in f.result()]
    (args.out / "manifest.json").write_text(json.dumps(entries, indent=1) + "\n")
    print(f"{len(entries)} corpora of {args.utterances} utterances in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
