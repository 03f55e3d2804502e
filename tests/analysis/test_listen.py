"""Listen by numbers: the word error rate and the recogniser on real speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from smart_tuner.analysis import asr
from smart_tuner.cli import demo_corpus_path


def test_word_error_rate_counts_edits_per_reference_word() -> None:
    assert asr.word_error_rate("The cat sat.", ["the", "cat", "sat"]) == 0.0
    assert asr.word_error_rate("the cat sat", ["the", "hat", "sat", "down"]) == pytest.approx(2 / 3)
    assert asr.word_error_rate("the cat", []) == 1.0
    assert asr.word_error_rate("", ["noise"]) == 1.0


@pytest.mark.skipif(asr.available("en") is not None, reason="no English recogniser")
def test_a_demo_recording_is_heard_and_silence_is_not() -> None:
    root = demo_corpus_path("en")
    line = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()[1]
    utt_id, text = line.split("|")[:2]
    wav, rate = sf.read(root / "wavs" / f"{utt_id}.flac", dtype="float32")
    assert asr.word_error_rate(text, asr.listen(wav, rate)) < 0.3
    assert asr.listen(np.zeros(rate, dtype=np.float32), rate) == []
