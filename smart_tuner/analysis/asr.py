"""Accent evidence through ASR (S24): systematic phone substitutions, not a raw error rate.

A sample of utterances is transcribed with PocketSphinx's English model (shipped inside the
`pocketsphinx` package). A recogniser's word error rate mixes accent with noise, recording
quality and its own weakness on unusual voices, so it is only used as a gate: when the
recogniser is lost (WER above `accent.max_wer`) nothing is concluded. The evidence used is the
*recurrence* of the same pronunciation difference: reference and recognised words are turned
into phones with the CMU dictionary, the phone strings are aligned, and a substitution
(say TH -> D) counts as systematic only when it recurs in several utterances
(`accent.min_utterances`) and replaces a real share of that phone's occurrences
(`accent.min_rate`). Random recogniser slips and noise bursts scatter over many pairs and
rarely pass both tests; an accent substitutes the same sounds again and again.

The measured value is the share of reference phones that fall inside systematic substitutions.
Languages other than English have no recogniser here, so they are reported as not assessed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ASR_VERSION = "1"
LANGUAGES_WITH_ASR = ("en",)
# Vowels a recogniser swaps freely in unstressed syllables; their alternations are not evidence.
REDUCED_VOWELS = frozenset({"AH", "IH", "ER", "UH", "EH", "IY"})

_decoder: Any = None
_WORD_RE = re.compile(r"[a-z']+")


def _model_dir() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


def available(language: str) -> str | None:
    """None when an accent check can run for `language`, else the reason it cannot."""
    if language not in LANGUAGES_WITH_ASR:
        return f"no speech recogniser for language '{language}'; only English has one here"
    try:
        model = _model_dir()
    except ImportError:
        return "the pocketsphinx package (English recogniser) is not installed"
    if not (model / "cmudict-en-us.dict").is_file():
        return f"PocketSphinx English model not found in {model}"
    return None


def transcribe(wav16k: np.ndarray) -> list[str]:
    """Words recognised in 16 kHz audio (PocketSphinx, default English model)."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=16000, loglevel="FATAL")
    pcm = (np.clip(wav16k, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return words(hyp.hypstr) if hyp is not None else []


def words(text: str) -> list[str]:
    """Lowercase words (letters and apostrophes) as the recogniser's dictionary spells them."""
    text = text.lower().replace("\u2019", "'")
    return [w.strip("'") for w in _WORD_RE.findall(text) if w.strip("'")]


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """Levenshtein alignment: ('ok'|'sub'|'del'|'ins', ref token, hyp token)."""
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), dtype=np.int32)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = ref[i - 1] == hyp[j - 1]
            cost[i, j] = min(
                cost[i - 1, j - 1] + (0 if same else 1), cost[i - 1, j] + 1, cost[i, j - 1] + 1
            )
    ops: list[tuple[str, str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = ref[i - 1] == hyp[j - 1]
            if cost[i, j] == cost[i - 1, j - 1] + (0 if same else 1):
                ops.append(("ok" if same else "sub", ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("del", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hyp[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def word_error_rate(reference: str, heard: Sequence[str]) -> float:
    """(substitutions + deletions + insertions) / reference words; 0 = every word right."""
    ref = words(reference)
    return sum(op != "ok" for op, _, _ in align(ref, heard)) / max(1, len(ref))


def listen(wav: np.ndarray, sample_rate: int) -> list[str]:
    """Words PocketSphinx hears in float audio at any rate (resampled to its 16 kHz)."""
    import soxr

    mono = wav.mean(axis=1) if wav.ndim > 1 else wav
    return transcribe(soxr.resample(mono.astype(np.float32), sample_rate, 16000))


def load_pronunciations(needed: Iterable[str]) -> dict[str, list[str]]:
    """First CMU-dictionary pronunciation of each needed word (stress marks removed)."""
    wanted = set(needed)
    found: dict[str, list[str]] = {}
    path = _model_dir() / "cmudict-en-us.dict"
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            head, _, rest = line.partition(" ")
            if head in wanted and head not in found:
                found[head] = [re.sub(r"\d", "", p) for p in rest.split()]
    return found


@dataclass
class Substitution:
    ref: str
    hyp: str
    count: int
    utterances: int
    rate: float  # share of the reference phone's occurrences
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "hyp": self.hyp,
            "count": self.count,
            "utterances": self.utterances,
            "rate": round(self.rate, 3),
            "examples": self.examples,
        }


@dataclass
class AccentEvidence:
    n_utterances: int
    n_words: int
    wer: float
    n_phones: int
    systematic: list[Substitution]
    share: float  # reference phones inside systematic substitutions / all reference phones
    skipped_oov: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_utterances": self.n_utterances,
            "n_words": self.n_words,
            "wer": round(self.wer, 3),
            "n_phones": self.n_phones,
            "systematic_substitutions": [s.to_dict() for s in self.systematic],
            "share": round(self.share, 4),
            "utterances_with_unknown_words": self.skipped_oov,
        }


def accent_evidence(
    pairs: Sequence[tuple[str, list[str]]], min_utterances: int, min_rate: float
) -> AccentEvidence:
    """Evidence from (reference text, recognised words) pairs; see the module docstring."""
    refs = [words(text) for text, _ in pairs]
    hyps = [list(h) for _, h in pairs]
    errors = sum(
        sum(op != "ok" for op, _, _ in align(r, h)) for r, h in zip(refs, hyps, strict=True)
    )
    n_words = sum(len(r) for r in refs)
    wer = errors / n_words if n_words else 1.0
    lexicon = load_pronunciations({w for seq in refs + hyps for w in seq})

    phone_count: Counter[str] = Counter()
    pair_count: Counter[tuple[str, str]] = Counter()
    pair_utts: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    examples: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    oov = 0
    for k, (ref, hyp) in enumerate(zip(refs, hyps, strict=True)):
        if any(w not in lexicon for w in ref):
            oov += 1
            continue
        ref_ph = [p for w in ref for p in lexicon[w]]
        hyp_ph = [p for w in hyp for p in lexicon.get(w, [])]
        phone_count.update(ref_ph)
        for op, r, h in align(ref_ph, hyp_ph):
            if op != "sub" or r is None or h is None:
                continue
            if r in REDUCED_VOWELS and h in REDUCED_VOWELS:
                continue
            pair_count[(r, h)] += 1
            pair_utts[(r, h)].add(k)
            if len(examples[(r, h)]) < 3:
                examples[(r, h)].append(f"'{' '.join(ref)}' -> '{' '.join(hyp)}'")
    systematic = []
    for (r, h), count in pair_count.most_common():
        rate = count / phone_count[r] if phone_count[r] else 0.0
        if len(pair_utts[(r, h)]) >= min_utterances and rate >= min_rate:
            systematic.append(
                Substitution(r, h, count, len(pair_utts[(r, h)]), rate, examples[(r, h)])
            )
    n_phones = sum(phone_count.values())
    share = sum(s.count for s in systematic) / n_phones if n_phones else 0.0
    return AccentEvidence(len(pairs), n_words, wer, n_phones, systematic, share, oov)
