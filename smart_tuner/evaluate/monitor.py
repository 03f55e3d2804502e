"""Quality during training (S16): a listener that speaks a few fixed validation sentences with
the latest checkpoint at each progress analysis and when the run stops, and reports
`mel_quality` (mean MCD-DTW against the recordings, dB) and `audio_naturalness` (mean DNSMOS
P.808 MOS) as a QualityMeasured event that every tracker logs; the run's summary carries the
last values.

Its cost is kept within `evaluation.monitor_budget` (2 %) of the training time: a measurement
whose expected duration would take the monitor's total above that share is skipped, so short
runs (and tests) are never slowed by it. The decoder is capped at twice the recording's length,
so a model that does not stop yet costs little to find out about.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smart_tuner.data.corpus import Utterance
from smart_tuner.events import (
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    Event,
    QualityMeasured,
    RunFinished,
    StopReason,
)

MEASURE_ON = ("report", "stop")  # DecisionMade actions: progress analysis, controller stop
FIRST_ESTIMATE_SECONDS = 6.0  # per sentence, before one has been timed
STEP_CAP = 2.0  # decoder steps allowed, relative to the recording's frames / r


@dataclass
class Budget:
    """Policy: measure only while the monitor's total time stays within `share` of training
    (a share of 1 or more: at every opportunity, whatever it costs). A progress analysis also
    leaves room for one more measurement, so the final one (what the summary keeps) fits."""

    share: float
    spent: float = 0.0
    per_sentence: float = FIRST_ESTIMATE_SECONDS

    def allows(self, training_seconds: float, sentences: int, final: bool = True) -> bool:
        if self.share >= 1.0:
            return True
        needed = self.per_sentence * sentences * (1 if final else 2)
        return self.spent + needed <= self.share * training_seconds

    def record(self, seconds: float, sentences: int) -> None:
        self.spent += seconds
        self.per_sentence = seconds / max(1, sentences)


def fixed_subset(utterances: list[Utterance], n: int, seed: int = 0) -> list[Utterance]:
    """The same `n` validation sentences at every measurement (seeded, sorted by id)."""
    ordered = sorted(utterances, key=lambda u: u.id)
    chosen = random.Random(seed).sample(ordered, min(n, len(ordered)))
    return sorted(chosen, key=lambda u: u.id)


def measure(
    checkpoint: Path, sentences: list[Utterance], out_dir: Path, device: str = "auto"
) -> dict[str, float]:
    """mel_quality and audio_naturalness of `checkpoint` on `sentences` (WAVs in `out_dir`),
    and `quality_stopped`, the share of sentences that gave audio."""
    import soundfile as sf

    from smart_tuner.data.audio import audio_info, load_audio
    from smart_tuner.evaluate.naturalness import naturalness
    from smart_tuner.evaluate.spectral import shared_band, spectral_score
    from smart_tuner.model.vocoder import choose_vocoder
    from smart_tuner.synthesize import load_model, synthesize

    loaded = load_model(checkpoint, device)
    audio_cfg = loaded.config.audio
    vocoder = choose_vocoder(audio_cfg, loaded.config.synthesis)
    decoder = loaded.model.decoder
    limit = decoder.max_decoder_steps
    mcd: list[float] = []
    mos: list[float] = []
    for utterance in sentences:
        reference = load_audio(utterance.audio_path, audio_cfg.sampling_rate)
        frames = len(reference) / audio_cfg.hop_length / loaded.config.model.n_frames_per_step
        decoder.max_decoder_steps = min(limit, int(STEP_CAP * frames) + 10)
        result = synthesize(loaded, utterance.text, out_dir / f"{utterance.id}.wav", vocoder)
        if result.wav_path is None:
            continue
        wav, rate = sf.read(result.wav_path, dtype="float32")
        reference = load_audio(utterance.audio_path, rate)
        band = shared_band(audio_cfg.mel_fmax, audio_info(utterance.audio_path).samplerate)
        mcd.append(spectral_score(reference, wav, rate, band).mcd_db)
        mos.append(naturalness(wav, rate).p808)
    metrics = {"quality_stopped": len(mcd) / max(1, len(sentences))}
    if mcd:
        metrics["mel_quality"] = float(np.mean(mcd))
        metrics["audio_naturalness"] = float(np.mean(mos))
    return metrics


Emit = Callable[[Event], None]


class QualityMonitor:
    """Listener: measures on progress analyses and stops, within the time budget."""

    def __init__(
        self,
        validation: list[Utterance],
        run_dir: Path,
        sentences: int = 2,
        budget: float = 0.02,
        measure_fn: Callable[[Path, list[Utterance], Path], dict[str, float]] = measure,
    ) -> None:
        self.sentences = fixed_subset(validation, sentences)
        self.run_dir = Path(run_dir)
        self.budget = Budget(budget)
        self.measure_fn = measure_fn
        self.emit: Emit | None = None
        self.checkpoint: tuple[int, str] | None = None  # (epoch, path) of the latest save
        self.training_seconds = 0.0
        self.last: tuple[int, dict[str, float]] | None = None

    def attach(self, emit: Emit) -> None:
        """The bus's emit, so QualityMeasured reaches every tracker."""
        self.emit = emit

    def __call__(self, event: Event) -> None:
        if isinstance(event, CheckpointSaved) and not event.is_best:
            self.checkpoint = (event.epoch, event.path)
        elif isinstance(event, EpochEnded):
            self.training_seconds = float(event.metrics.get("elapsed_seconds", 0.0))
        elif isinstance(event, DecisionMade) and event.action in MEASURE_ON:
            self._maybe_measure(final=event.action == "stop")
        elif isinstance(event, RunFinished):
            if event.summary.get("stop_reason") != StopReason.INTERRUPTED:
                self._maybe_measure(final=True)
            self._into_summary(event.summary)

    def _maybe_measure(self, final: bool) -> None:
        if not self.sentences or self.checkpoint is None:
            return
        epoch, path = self.checkpoint
        if self.last is not None and self.last[0] == epoch:
            return
        if not self.budget.allows(self.training_seconds, len(self.sentences), final):
            return
        started = time.monotonic()
        out_dir = self.run_dir / "samples" / "quality" / f"e{epoch:05d}"
        metrics = self.measure_fn(Path(path), self.sentences, out_dir)
        metrics["quality_seconds"] = time.monotonic() - started
        self.budget.record(metrics["quality_seconds"], len(self.sentences))
        metrics["quality_overhead"] = self.budget.spent / max(1e-9, self.training_seconds)
        self.last = (epoch, metrics)
        if self.emit is not None:
            self.emit(QualityMeasured(epoch, metrics))

    def _into_summary(self, summary: dict[str, Any]) -> None:
        """A measurement made after the summary was written (at RunFinished) into it: the dict
        the run returns, and summary.json."""
        if self.last is None or summary.get("quality_epoch") == self.last[0]:
            return
        epoch, metrics = self.last
        summary["mel_quality"] = metrics.get("mel_quality")
        summary["audio_naturalness"] = metrics.get("audio_naturalness")
        summary["quality_epoch"] = epoch
        summary["quality_overhead"] = self.budget.spent / max(1e-9, self.training_seconds)
        path = self.run_dir / "summary.json"
        if path.exists():
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)


def attach_quality_monitor(
    bus: Any, config: Any, validation: list[Utterance], run_dir: Path
) -> QualityMonitor | None:
    """Subscribe a monitor to a run's event bus per `config.evaluation` (None when off)."""
    settings = config.evaluation
    if settings.monitor_sentences <= 0 or not validation:
        return None
    monitor = QualityMonitor(
        validation, run_dir, settings.monitor_sentences, settings.monitor_budget
    )
    monitor.attach(bus.emit)
    bus.subscribe(monitor)
    return monitor
