"""TensorBoard tracker (S18): event files in RUN_DIR/tensorboard.

Tags
* scalars, step = epoch: `loss/train`, `loss/val`, `loss/val_mel`, `loss/val_postnet`,
  `loss/val_gate`; `alignment/attention_score`, `alignment/diagonality`,
  `alignment/gate_accuracy`; `optim/lr`, `optim/grad_norm`, `optim/grad_norm_max`,
  `optim/nonfinite_steps`, `optim/guided_attention_weight`, `optim/batch_size`;
  `system/frames_per_second`, `system/train_seconds`, `system/epoch_seconds`,
  `system/ram_rss_mb` (+ GPU memory, samples_per_second); `quality/<name>` for quality metrics
  (mel_quality, audio_naturalness, ... when the evaluation stage adds them); any other number
  under `metrics/<name>`. The optimizer step counter is left out (it is not a curve).
* images: `<artifact>` (e.g. `alignment`, `mel`) decoded from the PNG of ArtifactSaved, at
  epoch 1, every IMAGE_EVERY epochs and at the end.
* audio: `audio/<artifact>` for each WAV artifact.
* text: `params` at the start, `decisions` for every decision.
* hparams at the end: RunStarted.params + `hparams/<metric>` (best/final val loss, best epoch,
  epochs run, final alignment metrics), so the HParams dashboard compares runs.

On resume the writer purges the events after the checkpoint's epoch (purge_step), so the
epochs trained again do not appear twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smart_tuner.config import Config
from smart_tuner.events import (
    ArtifactSaved,
    DecisionMade,
    EpochEnded,
    Event,
    QualityMeasured,
    RunFinished,
    RunStarted,
)
from smart_tuner.track._util import IMAGE_EVERY, finite_metrics, flatten, system_metrics

QUALITY_METRICS = {"mel_quality", "audio_naturalness", "mos", "wer", "speaker_similarity"}
_GROUPS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "val_mel_loss": "loss/val_mel",
    "val_postnet_loss": "loss/val_postnet",
    "val_gate_loss": "loss/val_gate",
    "attention_score": "alignment/attention_score",
    "diagonality": "alignment/diagonality",
    "gate_accuracy": "alignment/gate_accuracy",
    "lr": "optim/lr",
    "grad_norm": "optim/grad_norm",
    "grad_norm_max": "optim/grad_norm_max",
    "nonfinite_steps": "optim/nonfinite_steps",
    "guided_attention_weight": "optim/guided_attention_weight",
    "batch_size": "optim/batch_size",
    "frames_per_second": "system/frames_per_second",
    "train_seconds": "system/train_seconds",
    "epoch_seconds": "system/epoch_seconds",
}
SKIPPED = {"step", "epoch"}
FINAL_KEYS = (
    "best_val_loss",
    "final_val_loss",
    "best_epoch",
    "epochs_run",
    "attention_score",
    "diagonality",
    "gate_accuracy",
    "wall_seconds",
)


def scalar_tag(metric: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key."""
    if metric in _GROUPS:
        return _GROUPS[metric]
    if "/" in metric:  # already grouped (system/...)
        return metric
    if metric in QUALITY_METRICS:
        return f"quality/{metric}"
    return f"metrics/{metric}"


class TensorBoardTracker:
    """Listener: writes one run folder's event stream as TensorBoard summaries."""

    __name__ = "tensorboard"

    def __init__(self, run_dir: Path, config: Config) -> None:
        self.run_dir = Path(run_dir)
        self.log_dir = self.run_dir / config.tracking.tensorboard.subdir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.writer: Any = None
        self.params: dict[str, Any] = {}
        self.last_epoch = 0
        self.last_images: dict[str, tuple[int, str]] = {}

    def _open(self, purge_step: int | None = None) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)
        return self.writer

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            purge = event.resumed_from_epoch + 1 if event.resumed_from_epoch else None
            writer = self._open(purge)
            self.params = dict(event.params)
            rows = "\n".join(f"| {k} | {v} |" for k, v in flatten(event.params).items())
            writer.add_text(
                "params", f"| param | value |\n|---|---|\n{rows}", event.resumed_from_epoch
            )
        elif isinstance(event, EpochEnded):
            writer = self._open()
            self.last_epoch = event.epoch
            values = finite_metrics(event.metrics)
            values.update(system_metrics(self.params, values))
            for key, value in values.items():
                if key not in SKIPPED:
                    writer.add_scalar(scalar_tag(key), value, event.epoch)
        elif isinstance(event, DecisionMade):
            self._open().add_text(
                "decisions", f"epoch {event.epoch}: **{event.action}**: {event.reason}", event.epoch
            )
        elif isinstance(event, ArtifactSaved):
            self._artifact(event)
        elif isinstance(event, QualityMeasured):
            for key, value in finite_metrics(event.metrics).items():
                self._open().add_scalar(scalar_tag(key), value, event.epoch)
        elif isinstance(event, RunFinished):
            self._finish(event.summary)

    def _artifact(self, event: ArtifactSaved) -> None:
        path = Path(event.path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            if event.epoch == 1 or event.epoch % IMAGE_EVERY == 0:
                self._image(event.artifact, path, event.epoch)
                self.last_images.pop(event.artifact, None)
            else:
                self.last_images[event.artifact] = (event.epoch, str(path))
        elif suffix in (".wav", ".flac"):
            self._audio(event.artifact, path, event.epoch)

    def _image(self, tag: str, path: Path, epoch: int) -> None:
        if not path.exists():
            return
        import matplotlib.image as mpimg
        import numpy as np

        image = np.asarray(mpimg.imread(str(path)))
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        if image.dtype != np.uint8:
            image = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        self._open().add_image(tag, image[..., :3], epoch, dataformats="HWC")

    def _audio(self, tag: str, path: Path, epoch: int) -> None:
        if not path.exists():
            return
        import soundfile as sf

        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        self._open().add_audio(f"audio/{tag}", samples.mean(axis=1), epoch, sample_rate=rate)

    def _finish(self, summary: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self._open()
        for tag, (epoch, path) in self.last_images.items():
            self._image(tag, Path(path), epoch)
        self.last_images.clear()
        step = int(summary.get("epochs_run") or self.last_epoch)
        metrics = {
            f"hparams/{k}": v
            for k, v in finite_metrics({k: summary.get(k) for k in FINAL_KEYS}).items()
        }
        params = {k: v for k, v in flatten(self.params).items() if v is not None}
        params["stop_reason"] = str(summary.get("stop_reason"))
        # Written into this run's own folder (SummaryWriter.add_hparams would add a sub-run),
        # so the HParams dashboard links the row to these curves.
        for item in hparams(params, metrics):
            writer.file_writer.add_summary(item, step)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, step)
        writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
