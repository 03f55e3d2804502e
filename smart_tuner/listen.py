"""Listen by numbers: what an offline recogniser hears in a WAV, and DNSMOS's quality estimate.

One place for the demo's closing report and the intelligibility benchmarks, so they all score
speech the same way: PocketSphinx (English) word error rate against the intended sentence,
and DNSMOS P.835 overall and signal (1-5) of the first 9 s at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smart_tuner.analysis import asr, dnsmos


@dataclass(frozen=True)
class Listening:
    heard: list[str] | None  # None: no recogniser here
    wer: float | None  # word error rate against the intended sentence (0 = all right)
    mos_overall: float | None  # None: DNSMOS cannot run here
    mos_signal: float | None

    def describe(self) -> str:
        parts = []
        if self.heard is not None:
            parts.append(
                f"a recogniser (PocketSphinx) hears {' '.join(self.heard) or '(nothing)'!r}"
            )
        if self.wer is not None:
            parts.append(f"word error rate {self.wer:.0%}")
        if self.mos_overall is not None and self.mos_signal is not None:
            parts.append(
                f"DNSMOS overall {self.mos_overall:.2f}, signal {self.mos_signal:.2f} (1-5)"
            )
        return " - ".join(parts) or "no recogniser or MOS estimator installed"


def listen_to(wav: np.ndarray, rate: int, sentence: str | None = None) -> Listening:
    """Recognise and rate `wav` (float mono at `rate`); parts that cannot run come back None."""
    mono = np.asarray(wav.mean(axis=1) if wav.ndim > 1 else wav, dtype=np.float32)
    heard = wer = None
    if asr.available("en") is None and mono.size:
        heard = asr.listen(mono, rate)
        wer = asr.word_error_rate(sentence, heard) if sentence is not None else None
    overall, signal = mos_of(mono, rate)
    return Listening(heard, wer, overall, signal)


def mos_of(wav: np.ndarray, rate: int) -> tuple[float | None, float | None]:
    """DNSMOS (overall, signal) of mono float audio, or (None, None) where it cannot run."""
    import soxr

    if dnsmos.available() is not None or not wav.size:
        return None, None
    score = dnsmos.score_window(soxr.resample(wav.astype(np.float32), rate, dnsmos.SAMPLE_RATE))
    return score.ovrl, score.sig
