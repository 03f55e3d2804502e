"""From per-file measures to the profile's verdicts: plain Python over plain numbers.

Audio quality % (S2) is a weighted mean of component scores, each 0-100 and linear between two
anchors (clipped outside them). Components that could not be measured (DNSMOS missing, say)
drop out and the weights of the others are renormalised; the recommendation's confidence then
drops too.

| component | measured as | 0 % at | 100 % at | weight |
|---|---|---|---|---|
| DNSMOS OVRL | P.835 overall MOS on a seeded sample | 2.0 | 3.3 | 0.30 |
| SNR | median WADA-SNR over files | 5 dB | 30 dB | 0.25 |
| bandwidth | median effective bandwidth / min(mel_fmax, sampling_rate / 2) | 0.5 | 0.9 | 0.15 |
| clipping | share of files clipped more than problems.clipped_fraction | 20 % | 0 % | 0.10 |
| speech ratio | median share of 30 ms frames with speech | 0.5 | 0.75 | 0.05 |
| edge silence | share of files with an end silence > max_edge_silence | 50 % | 0 % | 0.05 |
| DC offset | share of files with abs(DC) above problems.dc_offset | 20 % | 0 % | 0.05 |
| sample-rate mix | share of files at the most common sampling rate | 80 % | 100 % | 0.05 |

Complexity flags (S3, S23, S24) compare a measured value with a threshold from
`analysis.complexity_thresholds`; the level is simple / moderate / complex by the number of
flags set (`moderate_flags`, `complex_flags`). Tempo and pitch range are here; expressiveness
and accent have their own modules (`expressiveness`, `accent`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smart_tuner.analysis.classes import QUALITY_WEIGHTS
from smart_tuner.analysis.measures import FileStats, hz_from_semitones
from smart_tuner.analysis.profile import ComplexityFlag, Problem, QualityComponent

if TYPE_CHECKING:
    from smart_tuner.config import AnalysisConfig, Config

MIN_ITEMS_FOR_STATS = 8


def linear_score(value: float, zero: float, full: float) -> float:
    """0-100, linear between the anchors (which may run either way), clipped."""
    if full == zero:
        return 100.0
    return float(np.clip((value - zero) / (full - zero), 0.0, 1.0) * 100.0)


# ---------------------------------------------------------------- quality


@dataclass
class DnsmosSummary:
    sig: float
    bak: float
    ovrl: float
    seconds: float
    windows: int
    utterances: int


def _component(name: str, value: float | None, unit: str, detail: str) -> QualityComponent:
    label, weight, zero, full = QUALITY_WEIGHTS[name]
    score = None if value is None else round(linear_score(value, zero, full), 1)
    return QualityComponent(name, label, value, unit, score, weight, detail)


def quality_components(
    stats: Sequence[FileStats],
    dnsmos: DnsmosSummary | None,
    dnsmos_reason: str,
    config: Config,
) -> list[QualityComponent]:
    ok = [s for s in stats if s.error is None]
    p = config.analysis.problems
    n = len(ok)
    comps: list[QualityComponent] = []
    if dnsmos is not None:
        comps.append(
            _component(
                "dnsmos_ovrl",
                round(dnsmos.ovrl, 3),
                "MOS",
                f"SIG {dnsmos.sig:.2f}, BAK {dnsmos.bak:.2f}, OVRL {dnsmos.ovrl:.2f} on a seeded "
                f"sample of {dnsmos.utterances} utterances ({dnsmos.seconds:.0f} s, "
                f"{dnsmos.windows} windows)",
            )
        )
    else:
        comps.append(_component("dnsmos_ovrl", None, "MOS", f"not assessed: {dnsmos_reason}"))
    if not n:
        for name in list(QUALITY_WEIGHTS)[1:]:
            comps.append(_component(name, None, "", "not assessed: no readable audio"))
        return comps

    snrs = [s.snr_db for s in ok if s.snr_db is not None and s.speech_seconds > 0]
    if snrs:
        med = float(np.median(snrs))
        comps.append(
            _component(
                "snr",
                round(med, 1),
                "dB",
                f"median over {len(snrs)} files (P10 {np.percentile(snrs, 10):.1f} dB)",
            )
        )
    else:
        comps.append(_component("snr", None, "dB", "not assessed: no speech found"))

    required = min(config.audio.mel_fmax, config.audio.sampling_rate / 2.0)
    bws = [s.bandwidth_hz for s in ok if s.bandwidth_hz is not None]
    if bws:
        med_bw = float(np.median(bws))
        comps.append(
            _component(
                "bandwidth",
                round(med_bw / required, 3),
                "ratio",
                f"median {med_bw / 1000:.1f} kHz of the {required / 1000:.1f} kHz the mel "
                "features use",
            )
        )
    clipped = sum(s.clipped_fraction > p.clipped_fraction for s in ok)
    comps.append(
        _component(
            "clipping",
            round(clipped / n, 4),
            "share",
            f"{clipped} of {n} files over {p.clipped_fraction:.2%} samples at full scale",
        )
    )
    ratios = [s.speech_ratio for s in ok]
    comps.append(
        _component(
            "speech_ratio",
            round(float(np.median(ratios)), 3),
            "share",
            "median share of 30 ms frames with speech (WebRTC VAD)",
        )
    )
    long_edges = sum(max(s.lead_silence, s.trail_silence) > p.max_edge_silence_seconds for s in ok)
    comps.append(
        _component(
            "edge_silence",
            round(long_edges / n, 4),
            "share",
            f"{long_edges} of {n} files with > {p.max_edge_silence_seconds:g} s of silence at "
            "an end",
        )
    )
    dc = sum(abs(s.dc_offset) > p.dc_offset for s in ok)
    comps.append(
        _component(
            "dc_offset",
            round(dc / n, 4),
            "share",
            f"{dc} of {n} files with |DC| > {p.dc_offset:g}",
        )
    )
    rates = Counter(s.samplerate for s in ok)
    main_rate, count = rates.most_common(1)[0]
    listed = ", ".join(f"{r} Hz x{c}" for r, c in rates.most_common(4))
    comps.append(_component("sample_rate_mix", round(count / n, 4), "share", f"{listed}"))
    return comps


def quality_percent(components: Sequence[QualityComponent]) -> float | None:
    assessed = [c for c in components if c.score is not None]
    total = sum(c.weight for c in assessed)
    if not total:
        return None
    return round(sum(c.weight * (c.score or 0.0) for c in assessed) / total, 1)


# ---------------------------------------------------------------- complexity


def _too_few(name: str, n: int, what: str) -> ComplexityFlag:
    return ComplexityFlag(
        name,
        assessed=False,
        reason=f"too few utterances with {what} ({n} < {MIN_ITEMS_FOR_STATS})",
    )


def tempo_flag(rates: Sequence[float], cfg: AnalysisConfig) -> ComplexityFlag:
    rates = [r for r in rates if r > 0]
    if len(rates) < MIN_ITEMS_FOR_STATS:
        return _too_few("variable_tempo", len(rates), "measurable speaking rate")
    p10, p50, p90 = np.percentile(rates, [10, 50, 90])
    value = round(float((p90 - p10) / p50), 3)
    threshold = cfg.complexity_thresholds.variable_tempo
    return ComplexityFlag(
        "variable_tempo",
        assessed=True,
        flagged=value >= threshold,
        value=value,
        threshold=threshold,
        unit="(P90-P10)/P50",
        evidence=f"characters per speech second over {len(rates)} utterances: P10 {p10:.1f}, "
        f"median {p50:.1f}, P90 {p90:.1f}",
    )


def pitch_range_flag(medians_st: Sequence[float], cfg: AnalysisConfig) -> ComplexityFlag:
    if len(medians_st) < MIN_ITEMS_FOR_STATS:
        return _too_few("wide_pitch_range", len(medians_st), "a pitch track")
    p5, p50, p95 = np.percentile(medians_st, [5, 50, 95])
    value = round(float(p95 - p5), 2)
    threshold = cfg.complexity_thresholds.wide_pitch_range
    return ComplexityFlag(
        "wide_pitch_range",
        assessed=True,
        flagged=value >= threshold,
        value=value,
        threshold=threshold,
        unit="semitones",
        evidence=f"per-utterance median F0 (Praat) over {len(medians_st)} utterances: "
        f"P5 {hz_from_semitones(p5):.0f} Hz, median {hz_from_semitones(p50):.0f} Hz, "
        f"P95 {hz_from_semitones(p95):.0f} Hz",
    )


# ---------------------------------------------------------------- problems (S26)

OK_PUNCTUATION = set("!'(),.:;? -\"\u2018\u2019\u201a\u201b\u2032`\u00b4")
OK_PUNCTUATION |= set("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u2010\u2011\u2012\u2013")
OK_PUNCTUATION |= set("\u2014\u2015\u2212\u2043\u2026&%")
ALPHABETS = {
    "en": set("abcdefghijklmnopqrstuvwxyz"),
    "ru": set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя"),
}
MOJIBAKE_RE = re.compile("\ufffd|\u00c3[\u0080-\u00bf]|\u00d0[\u0080-\u00bf]|\u00e2\u20ac")


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def foreign_chars(text: str, language: str) -> list[str]:
    alphabet = ALPHABETS.get(language, set())
    found = []
    for ch in unicodedata.normalize("NFC", text):
        if ch.isspace() or ch.isdigit() or ch in OK_PUNCTUATION:
            continue
        if ch.isalpha() and ch.lower() in alphabet:
            continue
        if ch not in found:
            found.append(ch)
    return found


def classify_skip(reason: str) -> str:
    """Problem kind of an entry the corpus loader skipped."""
    table = (
        ("not valid UTF-8", "bad_encoding"),
        ("duplicate id", "duplicate_id"),
        ("same audio file", "duplicate_audio"),
        ("leaves the dataset folder", "path_outside_dataset"),
        ("not found", "missing_audio"),
        ("empty text", "empty_text"),
        ("malformed line", "malformed_line"),
        ("empty id", "malformed_line"),
        ("too short", "too_short"),
        ("too long", "too_long"),
    )
    for needle, kind in table:
        if needle in reason:
            return kind
    return "unreadable"


@dataclass
class Item:
    """One usable corpus entry with its measures (stats None: not measured)."""

    id: str
    path: str
    text: str
    stats: FileStats | None
    letters: int

    @property
    def rate(self) -> float | None:
        s = self.stats
        if s is None or s.error or s.speech_seconds < 0.5 or self.letters < 5:
            return None
        return self.letters / s.speech_seconds


def file_problems(items: Sequence[Item], language: str, config: Config) -> list[Problem]:
    """Every problem found in the measured entries (skipped entries are added by the caller)."""
    p = config.analysis.problems
    data = config.data
    ok = [i for i in items if i.stats is not None and i.stats.error is None]
    snrs = [i.stats.snr_db for i in ok if i.stats and i.stats.snr_db is not None]
    median_snr = float(np.median(snrs)) if snrs else None
    rates = [r for r in (i.rate for i in ok) if r is not None]
    median_rate = float(np.median(rates)) if rates else None
    main_rate = Counter(i.stats.samplerate for i in ok if i.stats).most_common(1)
    main_sr = main_rate[0][0] if main_rate else None
    first_by_sha: dict[str, str] = {}
    out: list[Problem] = []
    for item in items:
        s = item.stats
        add = out.append
        if s is None:
            continue
        if s.error:
            add(Problem(item.id, "unreadable", s.error, "drop"))
            continue
        if s.sha1 in first_by_sha:
            add(
                Problem(
                    item.id,
                    "duplicate_audio",
                    f"same audio content as {first_by_sha[s.sha1]}",
                    "drop",
                )
            )
        else:
            first_by_sha[s.sha1] = item.id
        if s.active_dbfs < p.silent_dbfs or s.speech_seconds <= 0.0:
            add(
                Problem(
                    item.id,
                    "silent",
                    f"no speech found (level {s.active_dbfs:.0f} dBFS)",
                    "drop",
                )
            )
            continue
        if s.duration < data.min_seconds:
            add(
                Problem(
                    item.id,
                    "too_short",
                    f"{s.duration:.2f} s < data.min_seconds {data.min_seconds:g}",
                    "drop",
                )
            )
        if s.duration > data.max_seconds:
            add(
                Problem(
                    item.id,
                    "too_long",
                    f"{s.duration:.2f} s > data.max_seconds {data.max_seconds:g}",
                    "drop",
                )
            )
        if s.clipped_fraction > p.clipped_fraction:
            add(
                Problem(
                    item.id,
                    "clipped",
                    f"{s.clipped_fraction:.2%} of samples at full scale",
                    "drop",
                )
            )
        if (
            median_snr is not None
            and s.snr_db is not None
            and s.snr_db < median_snr - p.noisy_db_below_median
            and s.snr_db < p.noisy_max_snr_db
        ):
            add(
                Problem(
                    item.id,
                    "noisy",
                    f"SNR {s.snr_db:.1f} dB, {median_snr - s.snr_db:.0f} dB below the corpus "
                    f"median {median_snr:.1f} dB",
                    "drop",
                )
            )
        if main_sr is not None and s.samplerate != main_sr:
            lower = s.samplerate < main_sr
            add(
                Problem(
                    item.id,
                    "wrong_sample_rate",
                    f"{s.samplerate} Hz while most files are {main_sr} Hz"
                    + ("; it lacks the higher frequencies" if lower else ""),
                    "drop" if lower else "fix",
                )
            )
        if s.channels > 1:
            add(
                Problem(
                    item.id,
                    "stereo",
                    f"{s.channels} channels (averaged to mono when loaded); store it as mono",
                    "fix",
                )
            )
        if abs(s.dc_offset) > p.dc_offset:
            add(Problem(item.id, "dc_offset", f"DC offset {s.dc_offset:+.3f}", "fix"))
        if max(s.lead_silence, s.trail_silence) > p.max_edge_silence_seconds:
            add(
                Problem(
                    item.id,
                    "long_silence",
                    f"{s.lead_silence:.1f} s leading / {s.trail_silence:.1f} s trailing "
                    "silence; trim it",
                    "fix",
                )
            )
        rate = item.rate
        if rate is not None and median_rate:
            factor = rate / median_rate
            mild = p.rate_mismatch_factor**0.5  # halfway to a mismatch, on a log scale
            if factor > p.rate_mismatch_factor or factor < 1.0 / p.rate_mismatch_factor:
                add(
                    Problem(
                        item.id,
                        "text_audio_mismatch",
                        f"{rate:.1f} characters per speech second vs corpus median "
                        f"{median_rate:.1f}: the text may not match the audio",
                        "drop",
                    )
                )
            elif factor > mild or factor < 1.0 / mild:
                add(
                    Problem(
                        item.id,
                        "unusual_pace",
                        f"{rate:.1f} characters per speech second vs corpus median "
                        f"{median_rate:.1f} ({'faster' if factor > 1 else 'slower'} than the "
                        "rest, within what a speaker does): noted, trained on",
                        "keep",
                    )
                )
        if MOJIBAKE_RE.search(item.text):
            add(
                Problem(
                    item.id,
                    "bad_encoding",
                    "text looks mis-decoded (e.g. UTF-8 read as Latin-1); re-save it as UTF-8",
                    "drop",
                )
            )
        else:
            odd = foreign_chars(item.text, language)
            if odd:
                shown = " ".join(repr(c) for c in odd[:8])
                add(
                    Problem(
                        item.id,
                        "characters_outside_alphabet",
                        f"{shown} outside the '{language}' alphabet; the text front-end drops "
                        "or misreads them",
                        "fix",
                    )
                )
    return out
