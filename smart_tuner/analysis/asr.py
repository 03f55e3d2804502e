"""Accent evidence through ASR (S24): systematic phone substitutions, not a raw error rate.

A sample of utterances is decoded twice with PocketSphinx's English model (shipped inside the
`pocketsphinx` package): as words (with each word's posterior confidence) and as a free phone
loop (allphone search). A recogniser's word error rate mixes accent with noise, recording
quality and its own weakness on unusual voices, so it decides nothing by itself; whether the
audio is good enough is judged from the audio (SNR, quality %) in `smart_tuner.analysis.accent`.
The evidence is the *recurrence* of the same pronunciation difference: the expected phones
(CMU dictionary) are aligned with the heard phones, and a substitution (say TH -> S) counts as
systematic only when it recurs in several utterances (`accent.min_utterances`) and replaces a
real share of that phone's occurrences (`accent.min_rate`). Random recogniser slips and noise
bursts scatter over many pairs and rarely pass both tests; an accent substitutes the same sounds
again and again. The word decoding adds the share of words heard as a *near miss* (another word
one or two phones away), which an accent raises and noise, which makes unrelated words, does not.

Languages other than English have no recogniser here, so they are reported as not assessed.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ASR_VERSION = "2"
LANGUAGES_WITH_ASR = ("en",)
# Expected phones that are often reduced to schwa in unstressed syllables (the dictionary
# drops stress here): what they turn into is no evidence.
REDUCED = frozenset({"AH", "ER"})
# Near misses: the substitutions of a foreign accent (and of regional ones) replace a phone by a
# phonetic neighbour: TH/DH stopped or fronted, W/V merged, tense/lax vowels merged, final
# devoicing, L/R, NG->N... A recogniser's random slips or noise mostly land elsewhere
# (L->OW, NG->AA), so only these pairs count as evidence.
NEAR_MISS: dict[str, frozenset[str]] = {
    p: frozenset(n.split())
    for p, n in {
        "TH": "S T F DH", "DH": "Z D V TH", "W": "V", "V": "W B F", "IH": "IY EH",
        "IY": "IH", "EH": "AE EY IH", "AE": "EH AA AH", "UH": "UW", "UW": "UH",
        "AA": "AH AO", "AO": "AA OW", "OW": "AO UW", "EY": "EH", "NG": "N", "Z": "S",
        "S": "Z SH", "SH": "S CH", "CH": "SH", "JH": "ZH CH", "ZH": "JH SH", "D": "T",
        "B": "P V", "G": "K", "R": "L", "L": "R", "Y": "JH", "P": "B F", "T": "D",
        "K": "G", "F": "V P", "HH": "K",
    }.items()
}  # fmt: skip
# How often the recogniser makes each near-miss substitution on unaccented voices (share of the
# expected phone's occurrences), per source; only the excess over this counts. Measured on the
# neutral corpora of the calibration set's tune part (benchmarks/complexity_calibration.py).
HABITS: dict[str, dict[tuple[str, str], float]] = {
    "words": {
        ("TH", "DH"): 0.083,
        ("D", "T"): 0.081,
        ("NG", "N"): 0.072,
        ("IH", "IY"): 0.068,
        ("OW", "AO"): 0.062,
        ("AE", "EH"): 0.050,
        ("AO", "AA"): 0.042,
        ("UH", "UW"): 0.042,
        ("EH", "AE"): 0.038,
        ("V", "B"): 0.036,
        ("EH", "IH"): 0.034,
        ("T", "D"): 0.031,
        ("S", "Z"): 0.029,
        ("TH", "S"): 0.028,
        ("AA", "AH"): 0.024,
        ("L", "R"): 0.024,
    },
    "phones": {
        ("AE", "EH"): 0.248,
        ("AO", "AA"): 0.199,
        ("IH", "IY"): 0.193,
        ("NG", "N"): 0.187,
        ("HH", "K"): 0.133,
        ("TH", "S"): 0.125,
        ("SH", "CH"): 0.111,
        ("G", "K"): 0.111,
        ("EH", "AE"): 0.086,
        ("S", "Z"): 0.085,
        ("EH", "IH"): 0.082,
        ("IH", "EH"): 0.079,
        ("AA", "AH"): 0.065,
        ("Z", "S"): 0.064,
        ("SH", "S"): 0.054,
        ("AA", "AO"): 0.054,
        ("DH", "D"): 0.048,
        ("V", "B"): 0.046,
        ("AO", "OW"): 0.042,
        ("DH", "V"): 0.041,
        ("DH", "Z"): 0.041,
        ("T", "D"): 0.040,
        ("V", "F"): 0.036,
        ("P", "B"): 0.035,
        ("L", "R"): 0.033,
        ("D", "T"): 0.025,
        ("F", "V"): 0.021,
    },
}

FILLERS = frozenset({"SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+SMACK+", "+UM+"})
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


def _pcm(wav16k: np.ndarray) -> bytes:
    return (np.clip(wav16k, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def transcribe(wav16k: np.ndarray) -> list[str]:
    """Words recognised in 16 kHz audio (PocketSphinx, default English model)."""
    return transcribe_scored(wav16k)[0]


def transcribe_scored(wav16k: np.ndarray) -> tuple[list[str], list[float]]:
    """Recognised words and each word's posterior probability (the recogniser's confidence)."""
    decoder = _word_decoder()
    decoder.start_utt()
    decoder.process_raw(_pcm(wav16k), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    if hyp is None:
        return [], []
    confidence = []
    for seg in decoder.seg() or []:
        word = re.sub(r"\(\d+\)$", "", seg.word)
        if word.startswith(("<", "[", "+")) or word in ("<sil>",):
            continue
        confidence.append(float(seg.prob))
    heard = words(hyp.hypstr)
    return heard, confidence if len(confidence) == len(heard) else []


@functools.cache
def _word_decoder() -> Any:
    """One PocketSphinx word decoder per process (loading the model takes ~1 s)."""
    from pocketsphinx import Decoder

    return Decoder(samprate=16000, loglevel="FATAL")


@functools.cache
def _phone_decoder() -> Any:
    """One free phone-loop decoder per process."""
    from pocketsphinx import Decoder

    return Decoder(
        samprate=16000,
        loglevel="FATAL",
        allphone=str(_model_dir() / "en-us-phone.lm.bin"),
        lw=2.0,
        pip=0.3,
        beam=1e-20,
        pbeam=1e-20,
    )


def phone_loop(wav16k: np.ndarray) -> list[str]:
    """Phones heard by a free phone loop (allphone search with the shipped phone LM)."""
    decoder = _phone_decoder()
    decoder.start_utt()
    decoder.process_raw(_pcm(wav16k), full_utt=True)
    decoder.end_utt()
    return [s.word for s in decoder.seg() or [] if s.word not in FILLERS]


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
    near_miss_share: float = 0.0  # reference words heard as a word 1-2 phones away
    confidence: float | None = None  # mean posterior of the recognised words
    phone_error_rate: float | None = None  # expected vs phone-loop phones
    phone_systematic: list[Substitution] = field(default_factory=list)
    phone_share: float = 0.0  # expected phones inside systematic phone-loop substitutions

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_utterances": self.n_utterances,
            "n_words": self.n_words,
            "wer": round(self.wer, 3),
            "n_phones": self.n_phones,
            "systematic_substitutions": [s.to_dict() for s in self.systematic],
            "share": round(self.share, 4),
            "near_miss_share": round(self.near_miss_share, 4),
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "phone_error_rate": None
            if self.phone_error_rate is None
            else round(self.phone_error_rate, 3),
            "phone_loop_substitutions": [s.to_dict() for s in self.phone_systematic],
            "phone_share": round(self.phone_share, 4),
            "utterances_with_unknown_words": self.skipped_oov,
        }


def substitution_rates(
    expected: Sequence[Sequence[str]], heard: Sequence[Sequence[str]]
) -> dict[tuple[str, str], float]:
    """Each near-miss substitution's share of the expected phone's occurrences."""
    phone_count: Counter[str] = Counter()
    pair_count: Counter[tuple[str, str]] = Counter()
    for ref_ph, hyp_ph in zip(expected, heard, strict=True):
        phone_count.update(ref_ph)
        for op, r, h in align(ref_ph, hyp_ph):
            if op == "sub" and r is not None and h in NEAR_MISS.get(r, ()):
                pair_count[(r, h)] += 1
    return {pair: n / phone_count[pair[0]] for pair, n in pair_count.items()}


def systematic_substitutions(
    expected: Sequence[Sequence[str]],
    heard: Sequence[Sequence[str]],
    labels: Sequence[str],
    min_utterances: int,
    min_rate: float,
    habits: dict[tuple[str, str], float] | None = None,
) -> tuple[list[Substitution], float, float]:
    """(systematic substitutions, their share of expected phones, phone error rate).

    A substitution is systematic when it is a near miss, recurs in `min_utterances` utterances
    and its rate exceeds the recogniser's habit for that pair by `min_rate`; the share counts
    only the occurrences above the habit.
    """
    habits = habits or {}
    phone_count: Counter[str] = Counter()
    pair_count: Counter[tuple[str, str]] = Counter()
    pair_utts: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    examples: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    errors = 0
    for k, (ref_ph, hyp_ph) in enumerate(zip(expected, heard, strict=True)):
        phone_count.update(ref_ph)
        for op, r, h in align(ref_ph, hyp_ph):
            errors += op != "ok"
            if op != "sub" or r is None or h is None:
                continue
            if r in REDUCED or h not in NEAR_MISS.get(r, ()):
                continue
            pair_count[(r, h)] += 1
            pair_utts[(r, h)].add(k)
            if len(examples[(r, h)]) < 3:
                examples[(r, h)].append(labels[k])
    systematic = []
    excess = 0.0
    for (r, h), count in pair_count.most_common():
        rate = count / phone_count[r] if phone_count[r] else 0.0
        habit = habits.get((r, h), 0.0)
        if len(pair_utts[(r, h)]) >= min_utterances and rate - habit >= min_rate:
            systematic.append(
                Substitution(r, h, count, len(pair_utts[(r, h)]), rate, examples[(r, h)])
            )
            excess += count - habit * phone_count[r]
    n_phones = sum(phone_count.values())
    share = excess / n_phones if n_phones else 0.0
    return systematic, share, errors / n_phones if n_phones else 1.0


def near_miss(ref: Sequence[str], hyp: Sequence[str], lexicon: dict[str, list[str]]) -> int:
    """Reference words heard as another word whose phones differ by 1-2 (a third at most)."""
    found = 0
    for op, r, h in align(ref, hyp):
        if op != "sub" or r not in lexicon or h not in lexicon:
            continue
        a, b = lexicon[r], lexicon[h]
        distance = sum(o != "ok" for o, _, _ in align(a, b))
        found += 0 < distance <= max(1, min(2, len(a) // 3))
    return found


def expected_and_heard(
    pairs: Sequence[tuple[str, list[str]]], phones: Sequence[list[str]] | None = None
) -> tuple[list[list[str]], list[list[str]], list[list[str]] | None]:
    """Expected phones, phones of the recognised words and phone-loop phones of the utterances
    whose words are all in the dictionary."""
    refs = [words(text) for text, _ in pairs]
    lexicon = load_pronunciations(
        {w for seq in refs for w in seq} | {w for _, h in pairs for w in h}
    )
    known = [k for k, ref in enumerate(refs) if all(w in lexicon for w in ref)]
    expected = [[p for w in refs[k] for p in lexicon[w]] for k in known]
    from_words = [[p for w in pairs[k][1] for p in lexicon.get(w, [])] for k in known]
    loop = None if phones is None else [list(phones[k]) for k in known]
    return expected, from_words, loop


def accent_evidence(
    pairs: Sequence[tuple[str, list[str]]],
    min_utterances: int,
    min_rate: float,
    phones: Sequence[list[str]] | None = None,
    confidence: Sequence[list[float]] | None = None,
) -> AccentEvidence:
    """Evidence from (reference text, recognised words) pairs and, when given, the phone-loop
    phones and word confidences of the same utterances; see the module docstring."""
    refs = [words(text) for text, _ in pairs]
    hyps = [list(h) for _, h in pairs]
    errors = sum(
        sum(op != "ok" for op, _, _ in align(r, h)) for r, h in zip(refs, hyps, strict=True)
    )
    n_words = sum(len(r) for r in refs)
    wer = errors / n_words if n_words else 1.0
    lexicon = load_pronunciations({w for seq in refs + hyps for w in seq})
    known = [k for k, ref in enumerate(refs) if all(w in lexicon for w in ref)]
    expected = [[p for w in refs[k] for p in lexicon[w]] for k in known]
    from_words = [[p for w in hyps[k] for p in lexicon.get(w, [])] for k in known]
    labels = [f"'{' '.join(refs[k])}' -> '{' '.join(hyps[k])}'" for k in known]
    systematic, share, _ = systematic_substitutions(
        expected, from_words, labels, min_utterances, min_rate, HABITS["words"]
    )
    evidence = AccentEvidence(
        len(pairs), n_words, wer, sum(map(len, expected)), systematic, share,
        len(refs) - len(known),
    )  # fmt: skip
    misses = sum(near_miss(refs[k], hyps[k], lexicon) for k in known)
    known_words = sum(len(refs[k]) for k in known)
    evidence.near_miss_share = misses / known_words if known_words else 0.0
    scores = [c for seq in confidence or [] for c in seq]
    evidence.confidence = float(np.mean(scores)) if scores else None
    if phones is not None:
        loop = [list(phones[k]) for k in known]
        labels = [f"'{' '.join(refs[k])}' -> /{' '.join(loop[i])}/" for i, k in enumerate(known)]
        found, phone_share, per = systematic_substitutions(
            expected, loop, labels, min_utterances, min_rate, HABITS["phones"]
        )
        evidence.phone_systematic, evidence.phone_share = found, phone_share
        evidence.phone_error_rate = per
    return evidence
