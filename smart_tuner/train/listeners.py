"""What a person sees and hears of a run, as listeners on its event stream: the console lines,
the alignment and mel pictures, and the audio samples. The loop only emits events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from smart_tuner.events import (
    ArtifactSaved,
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    Event,
    EventBus,
    RunFinished,
    RunStarted,
    StopReason,
    ValidationSampled,
)
from smart_tuner.plots import plot_alignment, plot_mels


class ConsoleLines:
    """The run's setup, one line per epoch (`*best` when best.pt was written), each decision
    and each progress report."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._best_epoch = -1

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._started(event.params)
        elif isinstance(event, CheckpointSaved) and event.is_best:
            self._best_epoch = event.epoch
        elif isinstance(event, EpochEnded):
            self._epoch(event.epoch, event.metrics)
        elif isinstance(event, DecisionMade):
            if event.action == "report":
                self.console.print(event.params.get("text", event.reason), highlight=False)
            else:
                self.console.print(f"[cyan]decision[/cyan] {event.action}: {event.reason}")

    def _started(self, p: dict[str, Any]) -> None:
        amp = f", AMP {p['amp']}" if p.get("amp") else ""
        threads = f"{p['threads']} thread{'s' * (p['threads'] != 1)}"
        self.console.print(
            f"Training on {p['device']} ({threads}{amp}): {p['train_items']} train / "
            f"{p['val_items']} validation utterances, {p['n_symbols']} "
            f"{'phoneme' if p.get('phonemes') else 'letter'} symbols ({p['language']}), "
            f"preset {p['preset']}, r={p['n_frames_per_step']}, batch {p['batch_size']}."
        )

    def _epoch(self, epoch: int, r: dict[str, Any]) -> None:
        best = "  *best" if epoch == self._best_epoch else ""
        self.console.print(
            f"epoch {epoch:4d}  train {r['train_loss']:.4f}  val {r['val_loss']:.4f}  "
            f"attention_score {r['attention_score']:.3f}  diagonality {r['diagonality']:.3f}  "
            f"gate_accuracy {r['gate_accuracy']:.3f}  lr {r['lr']:.2e}  "
            f"{r['epoch_seconds']:.1f}s{best}",
            highlight=False,
        )


class Pictures:
    """plots/alignment_latest.png and mel_latest.png every epoch, and a kept alignment picture
    at epoch 1 and every 10th."""

    def __init__(self, plot_dir: Path, bus: EventBus) -> None:
        self.plot_dir = plot_dir
        self.bus = bus

    def __call__(self, event: Event) -> None:
        if not isinstance(event, ValidationSampled):
            return
        epoch = event.epoch
        title = (
            f"epoch {epoch}  attention_score {event.attention_score:.2f}  "
            f"diagonality {event.diagonality:.2f}"
        )
        align = plot_alignment(event.alignment, self.plot_dir / "alignment_latest.png", title)
        mel = plot_mels(
            {"target": event.target, "predicted": event.predicted},
            self.plot_dir / "mel_latest.png",
            title,
        )
        if epoch % 10 == 0 or epoch == 1:
            plot_alignment(event.alignment, self.plot_dir / f"alignment_e{epoch:05d}.png", title)
        self.bus.emit(ArtifactSaved(epoch, str(align), "alignment"))
        self.bus.emit(ArtifactSaved(epoch, str(mel), "mel"))


class AudioSamples:
    """A validation sentence spoken by the model as it is now, every
    `training.audio_sample_minutes` (0: never) of this process's training and at the end (not
    after an interruption): progress you can hear in TensorBoard and MLflow. `speak(out)` writes the
    WAV (None when the model does not stop yet); the file name holds the epoch."""

    def __init__(
        self,
        every_minutes: float,
        samples_dir: Path,
        speak: Callable[[Path], tuple[Path | None, float]],
        console: Console,
        bus: EventBus,
    ) -> None:
        self.every = every_minutes * 60.0
        self.samples_dir = samples_dir
        self.speak = speak
        self.console = console
        self.bus = bus
        self._last_at = 0.0
        self._epoch = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self._epoch = event.epoch
            elapsed = float(event.metrics.get("elapsed_seconds") or 0.0)
            if self.every > 0 and elapsed - self._last_at >= self.every:
                self._last_at = elapsed
                self.sample()
        elif isinstance(event, RunFinished):
            self._epoch = int(event.summary.get("epochs_run") or self._epoch)
            if event.summary.get("stop_reason") != StopReason.INTERRUPTED:
                self.sample()

    def sample(self) -> None:
        if self._epoch == 0:
            return
        out = self.samples_dir / f"validation_e{self._epoch:05d}.wav"
        if out.exists():  # already spoken at this epoch (a periodic sample, then the end)
            return
        try:
            wav, seconds = self.speak(out)
        except Exception as exc:  # a sample is a nicety; never fail a finished run for it
            self.console.print(f"[yellow]No audio sample: {exc}[/yellow]")
            return
        if wav is None:
            self.console.print("Audio sample: the model does not stop yet, none written.")
            return
        self.console.print(f"Audio sample ({seconds:.1f} s): {wav}")
        self.bus.emit(ArtifactSaved(self._epoch, str(wav), "audio"))
