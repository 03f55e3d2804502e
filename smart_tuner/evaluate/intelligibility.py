"""Word and character error rates of what an offline recogniser hears, against the text.

The recogniser is PocketSphinx's English model (smart_tuner.analysis.asr). Its own error rate
on the recordings is reported beside the synthesis's, so a weak recogniser is not mistaken for
a weak model. Rates come from jiwer over the recogniser's word normalisation (lowercase letters
and apostrophes): WER = (S + D + I) / reference words, CER the same over characters. Languages
without a recogniser are "not assessed", with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smart_tuner.analysis import asr


@dataclass
class Transcript:
    heard: str
    wer: float
    cer: float


def not_assessed(language: str) -> str | None:
    """None when WER can be measured for `language`, else why not."""
    return asr.available(language)


def error_rates(reference: str, heard: str) -> tuple[float, float]:
    """(WER, CER) of `heard` against `reference`, both normalised like the recogniser's words."""
    import jiwer

    ref = " ".join(asr.words(reference))
    hyp = " ".join(asr.words(heard))
    if not ref:
        raise ValueError(f"no words to compare in {reference!r}")
    if not hyp:  # jiwer refuses an empty hypothesis; everything was deleted
        return 1.0, 1.0
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))


def transcribe_and_score(wav: np.ndarray, sample_rate: int, text: str) -> Transcript:
    heard = " ".join(asr.listen(wav, sample_rate))
    wer, cer = error_rates(text, heard)
    return Transcript(heard, wer, cer)
