"""The accent flag (S24): abstain only when the audio is bad, never because the recogniser
struggles, which is what an accent does to it.

Whether the recording is good enough is judged from the audio, not from recognition: the
median WADA-SNR (`accent.min_snr_db`) and the quality % (`accent.min_quality`). On audio that
passes, the value is the share of expected phones inside systematic substitutions heard by
the recogniser (see `smart_tuner.analysis.asr`), from the word decoding and the free phone loop,
whichever is larger; the evidence lists the top recurring substitutions with their counts, the
near-miss share, the word confidence and the WER (reported, not a gate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smart_tuner.analysis.profile import ComplexityFlag

if TYPE_CHECKING:
    from smart_tuner.analysis.asr import AccentEvidence
    from smart_tuner.config import AnalysisConfig


def audio_problem(
    median_snr: float | None, quality_percent: float | None, cfg: AnalysisConfig
) -> str | None:
    """Why the audio is too poor to judge an accent (naming the measure), or None."""
    a = cfg.accent
    if median_snr is None:
        return "no speech to transcribe"
    if median_snr < a.min_snr_db:
        return (
            f"audio too poor for the recogniser to judge (median SNR {median_snr:.1f} dB < "
            f"{a.min_snr_db:g} dB): its errors would reflect the noise, not an accent"
        )
    if quality_percent is not None and quality_percent < a.min_quality:
        return (
            f"audio too poor for the recogniser to judge (quality {quality_percent:.0f} % < "
            f"{a.min_quality:g} %): its errors would reflect the recording, not an accent"
        )
    return None


def accent_value(evidence: AccentEvidence) -> float:
    return max(evidence.share, evidence.phone_share)


def accent_flag(
    evidence: AccentEvidence | None, reason: str, cfg: AnalysisConfig
) -> ComplexityFlag:
    if evidence is None:
        return ComplexityFlag("accent", assessed=False, reason=reason)
    threshold = cfg.complexity_thresholds.accent
    value = round(accent_value(evidence), 4)
    found = sorted(
        evidence.systematic + evidence.phone_systematic, key=lambda s: s.count, reverse=True
    )
    seen: set[tuple[str, str]] = set()
    top = []
    for s in found:
        if (s.ref, s.hyp) not in seen:
            seen.add((s.ref, s.hyp))
            top.append(f"{s.ref}->{s.hyp} ({s.count}x in {s.utterances} utterances)")
    subs = (
        f"systematic substitutions: {', '.join(top[:5])}" if top else "no systematic substitution"
    )
    confidence = (
        "" if evidence.confidence is None else f", word confidence {evidence.confidence:.2f}"
    )
    lost = evidence.wer > cfg.accent.max_wer
    return ComplexityFlag(
        "accent",
        assessed=True,
        flagged=value >= threshold and bool(top),
        value=value,
        threshold=threshold,
        unit="share of phones",
        evidence=f"PocketSphinx on {evidence.n_utterances} sampled utterances: {subs}; "
        f"near-miss words {evidence.near_miss_share:.0%}{confidence}, WER {evidence.wer:.2f}"
        + (" (the recogniser is lost on this voice; judged from the phones)" if lost else ""),
    )
