"""One evaluation: speak each selected sentence free-running, score it against its recording,
and score the recordings themselves by the same measures (the reference a model can reach).

Every metric family is optional at run time: one that cannot run here (no recogniser for the
language, a model package missing) is reported as not assessed with the reason, never as an
error. A sentence the model never stops saying is reported as `no_stop` with its alignment
figures; the audio measures are then left out for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from smart_tuner.data.audio import audio_info, load_audio
from smart_tuner.data.corpus import Utterance
from smart_tuner.evaluate import intelligibility, pitch, speaker, spectral, stopping
from smart_tuner.evaluate.naturalness import naturalness
from smart_tuner.evaluate.resume import SentenceCache, checkpoint_identity
from smart_tuner.evaluate.selection import Selection
from smart_tuner.synthesize import LoadedModel, SynthesisResult, resolve_vocoder, synthesize

Progress = Callable[[str], None]


@dataclass
class Evaluation:
    """Per-sentence rows, their means, and the measures that could not run (name -> why)."""

    checkpoint: str
    epoch: int
    vocoder: str
    selection: Selection
    sentences: list[dict[str, Any]]
    not_assessed: dict[str, str] = field(default_factory=dict)

    def averages(self) -> dict[str, float]:
        """Mean of every numeric column over the sentences that have it, and the stop counts."""
        means: dict[str, float] = {}
        keys = list(dict.fromkeys(k for row in self.sentences for k in row if k not in _TEXT_KEYS))
        for key in keys:
            values = [row[key] for row in self.sentences if _is_number(row.get(key))]
            if values:
                means[key] = float(np.mean(values))
        n = len(self.sentences)
        for behaviour in ("ok", "attention_end", "premature", "no_stop"):
            share = sum(row["stop"] == behaviour for row in self.sentences) / max(1, n)
            means[f"stop_{behaviour}"] = share
        return means

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "epoch": self.epoch,
            "vocoder": self.vocoder,
            "selection": self.selection.to_dict(),
            "metrics": self.averages(),
            "not_assessed": dict(self.not_assessed),
            "sentences": self.sentences,
        }


_TEXT_KEYS = {"id", "text", "recording", "synthesis", "stop", "heard", "recording_heard"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def evaluate(
    loaded: LoadedModel,
    selection: Selection,
    out_dir: Path,
    *,
    vocoder: Any = None,
    seed: int = 0,
    checkpoint: str = "",
    progress: Progress | None = None,
) -> Evaluation:
    """Synthesize and score every selected sentence; WAVs and PNGs go to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    language = loaded.frontend.language
    not_assessed: dict[str, str] = {}
    asr_missing = intelligibility.not_assessed(language)
    if asr_missing:
        not_assessed["wer"] = not_assessed["cer"] = asr_missing
    speaker_missing = speaker.available()
    if speaker_missing:
        not_assessed["speaker_similarity"] = speaker_missing
    choice = resolve_vocoder(loaded, vocoder)
    cache = SentenceCache(
        out_dir,
        {
            "checkpoint": checkpoint_identity(checkpoint),
            "epoch": loaded.epoch,
            "seed": seed,
            "vocoder": choice.to_dict(),
            "not_assessed": not_assessed,
        },
    )
    rows: list[dict[str, Any]] = []
    syn_embeddings: list[np.ndarray | None] = []
    ref_embeddings: list[np.ndarray | None] = []
    for k, utterance in enumerate(selection.utterances, 1):
        counter = f"[{k}/{len(selection.utterances)}] {utterance.id}: {utterance.text}"
        kept = cache.get(utterance.id, utterance.text)
        if kept is not None:
            if progress:
                progress(f"{counter} (measured by an earlier, interrupted run)")
            row, ref_embedding, syn_embedding = kept
        else:
            if progress:
                progress(counter)
            wav_path = out_dir / f"{utterance.id}.wav"
            result = synthesize(loaded, utterance.text, wav_path, choice, seed)
            row, ref, syn, rate = _score_sentence(loaded, utterance, result, asr_missing)
            ref_embedding = syn_embedding = None
            if speaker_missing is None:
                ref_embedding = _embedding(ref, rate)
                syn_embedding = _embedding(syn, rate) if syn is not None else None
            cache.put(utterance.id, utterance.text, row, ref_embedding, syn_embedding)
        ref_embeddings.append(ref_embedding)
        syn_embeddings.append(syn_embedding)
        rows.append(row)
    if speaker_missing is None:
        _speaker_columns(rows, syn_embeddings, ref_embeddings, not_assessed)
    return Evaluation(
        checkpoint, loaded.epoch, choice.describe(), selection, rows, not_assessed=not_assessed
    )


def _score_sentence(
    loaded: LoadedModel, utterance: Utterance, result: SynthesisResult, asr_missing: str | None
) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None, int]:
    """One sentence's row, with the recording and synthesis audio (None: no WAV) and rate."""
    row: dict[str, Any] = {
        "id": utterance.id,
        "text": utterance.text,
        "recording": str(Path(utterance.audio_path).resolve()),
        # absolute: a relative path would be relative to wherever the command ran
        "synthesis": str(result.wav_path.resolve()) if result.wav_path else None,
        "decoder_steps": result.decoder_steps,
        "attention_score": result.attention_score,
        "diagonality": result.diagonality,
    }
    reached_end = None
    if result.alignment is not None:
        align = stopping.alignment_score(result.alignment)
        row["skipped_symbols"] = align.skipped_symbols
        row["repeated_symbols"] = align.repeated_symbols
        reached_end = align.reached_end
    syn, rate = (None, 0)
    if result.wav_path is not None:
        syn, rate = sf.read(result.wav_path, dtype="float32")
    rate = rate or loaded.config.audio.sampling_rate
    ref = load_audio(utterance.audio_path, rate)
    row.update(_recording_scores(ref, rate, utterance.text, asr_missing))
    length_ratio = None
    if syn is not None:
        band = spectral.shared_band(
            loaded.config.audio.mel_fmax, audio_info(utterance.audio_path).samplerate
        )
        scores = _synthesis_scores(ref, syn, rate, utterance.text, asr_missing, band)
        length_ratio = scores["length_ratio"]
        row.update(scores)
    row["stop"] = stopping.stop_behaviour(
        result.reached_stop, result.stop_cause, length_ratio, reached_end
    )
    return row, ref, syn, rate


def _embedding(wav: np.ndarray, rate: int) -> np.ndarray | None:
    """The speaker embedding, or None when the synthesis holds no speech to embed."""
    try:
        return speaker.embed(wav, rate)
    except ValueError:
        return None


def _recording_scores(
    ref: np.ndarray, rate: int, text: str, asr_missing: str | None
) -> dict[str, Any]:
    mos = naturalness(ref, rate)
    row: dict[str, Any] = {
        "recording_mos_p808": mos.p808,
        "recording_mos_ovrl": mos.ovrl,
        "recording_seconds": len(ref) / rate,
    }
    if asr_missing is None:
        heard = intelligibility.transcribe_and_score(ref, rate, text)
        row.update(recording_wer=heard.wer, recording_cer=heard.cer, recording_heard=heard.heard)
    return row


def _synthesis_scores(
    ref: np.ndarray,
    syn: np.ndarray,
    rate: int,
    text: str,
    asr_missing: str | None,
    band_hz: float | None = None,
) -> dict[str, Any]:
    spec = spectral.spectral_score(ref, syn, rate, band_hz)
    n_ref = int(spec.match.reference_index.max()) + 1
    n_syn = int(spec.match.synthesis_index.max()) + 1
    f0 = pitch.pitch_score(
        pitch.f0_track(ref, rate, n_ref), pitch.f0_track(syn, rate, n_syn), spec.match
    )
    mos = naturalness(syn, rate)
    row: dict[str, Any] = {
        "seconds": len(syn) / rate,
        "length_ratio": spec.length_ratio,
        "mcd_db": spec.mcd_db,
        "f0_rmse_cents": f0.f0_rmse_cents,
        "voicing_error": f0.voicing_error,
        "mos_p808": mos.p808,
        "mos_ovrl": mos.ovrl,
    }
    if asr_missing is None:
        heard = intelligibility.transcribe_and_score(syn, rate, text)
        row.update(wer=heard.wer, cer=heard.cer, heard=heard.heard)
    return row


def _speaker_columns(
    rows: list[dict[str, Any]],
    synthesized: list[np.ndarray | None],
    recorded: list[np.ndarray | None],
    not_assessed: dict[str, str],
) -> None:
    """Synthesis and recording i against the mean of the other recordings (leave one out)."""
    usable = [e for e in recorded if e is not None]
    if not usable:
        not_assessed["speaker_similarity"] = "no speech found in the recordings to embed"
        return
    if len(usable) < 2:
        not_assessed["recording_speaker_similarity"] = (
            "the ceiling needs at least 2 recordings (--n 2 or more)"
        )
    for i, row in enumerate(rows):
        others = [e for j, e in enumerate(recorded) if j != i and e is not None] or usable
        centre = np.mean(others, axis=0)
        own, made = recorded[i], synthesized[i]
        if made is not None:
            row["speaker_similarity"] = speaker.cosine(made, centre)
        if len(usable) >= 2 and own is not None:
            row["recording_speaker_similarity"] = speaker.cosine(own, centre)
