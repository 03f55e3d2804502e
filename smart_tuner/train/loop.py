"""The training loop, an executor: epoch -> validate -> emit -> observe -> apply.

`train()` prepares data and model, then each epoch trains the steps, validates, puts one
record on the event stream and hands it to the controller, whose decisions it carries out in
order. Every choice (when to stop, which checkpoint is best or good, the learning rate, the
guided-attention and entropy weights, the batch size) is the controller's; console lines,
pictures and audio samples are listeners on the stream (train/listeners.py). An action this
loop does not know raises.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from smart_tuner.config import Config, ModelConfig, dump_config
from smart_tuner.control import Decision, TrainingController, TrainingPlan
from smart_tuner.data import TextFrontend
from smart_tuner.events import (
    CheckpointSaved,
    EpochEnded,
    EpochRecord,
    EventBus,
    JsonlWriter,
    Listener,
    QualityMeasured,
    RunFinished,
    RunStarted,
    StopReason,
    StopRun,
    ValidationSampled,
    read_records,
)
from smart_tuner.model import Tacotron2, Tacotron2Loss
from smart_tuner.model.warm_start import load_checkpoint_state, warm_start
from smart_tuner.runtime import distributed
from smart_tuner.runtime.checkpoint import (
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)
from smart_tuner.runtime.device import amp_dtype, configure_threads, select_device
from smart_tuner.runtime.distributed import Ranks
from smart_tuner.train import steps
from smart_tuner.train.data_prep import (
    PreparedData,
    TrainingError,
    build_frontend,
    planned_epochs,
    prepare_data,
)
from smart_tuner.train.decisions import DecisionHandlers
from smart_tuner.train.listeners import AudioSamples, ConsoleLines, Pictures
from smart_tuner.train.resume import checkpoint_state, restore, trim_stream_after

__all__ = ["PreparedData", "Trainer", "TrainingError", "build_frontend", "prepare_data", "train"]


class Trainer(DecisionHandlers):
    """Owns the model and optimizer for one run folder; `run()` trains until told to stop."""

    def __init__(
        self,
        config: Config,
        dataset: Path,
        run_dir: Path,
        *,
        resume: bool = False,
        warm_start_path: Path | None = None,
        console: Console | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        self.console = console or Console()
        self.ranks = ranks or Ranks()  # rank 0 alone decides and writes (runtime/distributed)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.last_path = self.ckpt_dir / "last.pt"
        self.best_path = self.ckpt_dir / "best.pt"
        self.good_path = self.ckpt_dir / "good.pt"  # last finite epoch, for ROLLBACK

        resume_state = self._resume_state() if resume else None
        if resume_state is not None:
            # The architecture is fixed by the checkpoint; training settings may change.
            update: dict[str, Any] = {
                "model": ModelConfig.model_validate(resume_state["config"]["model"])
            }
            if config.training.epochs is None:  # keep the plan the run was started with
                epochs = resume_state["config"]["training"].get("epochs")
                update["training"] = config.training.model_copy(update={"epochs": epochs})
            config = config.model_copy(update=update)
        elif self.ranks.is_main and self.last_path.exists():
            raise TrainingError(
                f"{self.run_dir} already holds a run; pass --resume to continue it "
                "or choose another --out folder"
            )
        self.config = config

        torch.manual_seed(config.training.seed)  # the same first weights on every rank
        shared = self.ranks.cpu_threads() if self.ranks.enabled else None
        self.threads = configure_threads(config.training.num_threads or shared)
        self.device = select_device(config.training.device)
        if self.ranks.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.ranks.local_rank)
        self.amp_dtype = amp_dtype(self.device, config.training.amp)
        self.use_amp = self.amp_dtype is not None
        self.use_scaler = self.amp_dtype == torch.float16  # bf16 has float32's range

        self.controller = TrainingController(
            config, TrainingPlan.from_config(config, planned_epochs(config))
        )
        frontend = TextFrontend.from_dict(resume_state["frontend"]) if resume_state else None
        self.data = prepare_data(
            dataset, config, self.console, frontend, lambda: self.controller.batch_size, self.ranks
        )
        self.frontend = self.data.frontend

        self.epoch = 0
        self.step = 0
        self.warm_start_path = None if resume_state else warm_start_path
        self.model = self._new_model(fresh=resume_state is None)
        self.net = self._wrapped(self.model)  # what a training step calls (DDP when distributed)
        self.criterion = Tacotron2Loss(
            sigma=config.training.guided_attention.sigma,
            gate_positive_weight=config.training.gate_positive_weight,
            attention_entropy_weight=config.training.attention_entropy_weight,
            mel_l1_weight=config.training.mel_l1_weight,
        )
        self.optimizer = self._new_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
        self.batch_in_epoch = 0
        # The interrupted epoch's per-batch losses, gradient norms and frames so far: a resumed
        # epoch reports the whole epoch, even when every batch was trained before Ctrl-C.
        self.epoch_losses: list[torch.Tensor] = []
        self.epoch_grad_norms: list[torch.Tensor] = []
        self.epoch_frames = 0
        self.batch_rng: dict[str, Any] = {}
        self.batch_buffers: dict[str, torch.Tensor] = {}
        self.epoch_start_rng: dict[str, Any] | None = None
        self.epoch_start_buffers: dict[str, torch.Tensor] = {}

        self.prior_wall_seconds = 0.0
        self.stop_reason: str = StopReason.NOT_STARTED
        self.last_record: dict[str, Any] = {}
        self.quality: dict[str, Any] = {}  # the last QualityMeasured, for the summary

        if resume_state is not None:
            restore(self, resume_state)
        if self.ranks.enabled:  # equal weights, but each rank its own dropout noise
            torch.manual_seed(config.training.seed + 7919 * self.ranks.rank + self.step)

        self.bus = EventBus()
        if self.ranks.is_main:  # the others write nothing: no listeners
            trim_stream_after(self.run_dir / "metrics.jsonl", self.epoch)
            for listener in self._listeners():
                self.bus.subscribe(listener)

    def _resume_state(self) -> dict[str, Any]:
        """Rank 0 reads last.pt and hands it to the others (the file may be on its disk only)."""
        state, problem = None, None
        if self.ranks.is_main:
            if self.last_path.exists():
                state = load_checkpoint(self.last_path)
            else:
                problem = f"--resume: no checkpoint at {self.last_path}"
        state, problem = distributed.broadcast((state, problem), self.ranks)
        if problem is not None or state is None:
            raise TrainingError(problem or "--resume: rank 0 sent no checkpoint")
        return state

    def _wrapped(self, model: Tacotron2) -> torch.nn.Module:
        """DistributedDataParallel around `model` in a distributed run (it starts every rank
        from rank 0's weights and averages the gradients); the model itself otherwise."""
        if not self.ranks.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _listeners(self) -> list[Listener]:
        """metrics.jsonl first, then what a person sees and hears, then the run's own memory."""
        every = self.config.training.audio_sample_minutes
        samples = self.run_dir / "samples"
        return [
            JsonlWriter(self.run_dir / "metrics.jsonl"),
            ConsoleLines(self.console),
            Pictures(self.run_dir / "plots", self.bus),
            AudioSamples(every, samples, self.speak, self.console, self.bus),
            self._remember_quality,
        ]

    def _remember_quality(self, event: object) -> None:
        if isinstance(event, QualityMeasured):
            self.quality = {**event.metrics, "quality_epoch": event.epoch}
            self.controller.observe_quality(event.epoch, event.metrics.get("mel_quality"))

    def _new_model(self, fresh: bool = True) -> Tacotron2:
        """A new model: warm-started when asked, else outputs start at the data's mean; then
        BatchNorm statistics measured on real batches (`fresh`; a resume loads them)."""
        cfg = self.config
        model = Tacotron2(cfg.model, len(self.frontend.symbols), cfg.audio.n_mel_channels)
        if not fresh:
            return model.to(self.device)
        if self.warm_start_path is not None:
            report = warm_start(model, load_checkpoint_state(self.warm_start_path))
            self.console.print(report.summary())
            if self.ranks.is_main:
                atomic_write_text(self.run_dir / "warm_start.txt", report.summary() + "\n")
        else:
            mean, frames = self.data.mel_statistics()
            model.init_output_bias(mean, frames)
        model.to(self.device)
        self._calibrate_batchnorm(model)
        return model

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.model.parameters(),
            lr=self.controller.learning_rate(float(self.epoch)),
            weight_decay=self.config.training.weight_decay,
        )

    def _state(self, mid_epoch: bool = False) -> dict[str, Any]:
        return checkpoint_state(self, mid_epoch)

    def elapsed(self) -> float:
        return time.monotonic() - self._started if hasattr(self, "_started") else 0.0

    def save(self, is_best: bool) -> None:
        if not self.ranks.is_main:
            return
        state = self._state()
        save_checkpoint(state, self.last_path)
        self.bus.emit(CheckpointSaved(self.epoch, str(self.last_path), False))
        if is_best:
            save_checkpoint(state, self.best_path)
            self.bus.emit(CheckpointSaved(self.epoch, str(self.best_path), True))

    def train_epoch(self, progress: Progress) -> dict[str, float]:
        return steps.train_epoch(self, progress)

    def validate(self) -> tuple[dict[str, float], dict[str, Any]]:
        return steps.validate(self)

    def _calibrate_batchnorm(self, model: Tacotron2, batches: int = 4) -> None:
        steps.calibrate_batchnorm(self, model, batches)

    def run(self, run_params: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg, controller = self.config, self.controller
        self._started = time.monotonic()
        if self.ranks.is_main:
            atomic_write_text(self.run_dir / "config.yaml", dump_config(cfg))
        if self.ranks.enabled:
            self.console.print(self.ranks.describe(self.controller.batch_size))
        self.bus.emit(RunStarted(str(self.run_dir), self._params(run_params), self.epoch))
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        try:
            with progress:
                while not controller.stopped and not self.run_epoch(progress):
                    pass
            if controller.stopped and self.stop_reason == StopReason.NOT_STARTED:
                self.stop_reason = controller.shared_state.stop_reason or StopReason.NOT_STARTED
        except KeyboardInterrupt:
            self.stop_reason = StopReason.INTERRUPTED
            self.console.print(
                "[yellow]Interrupted: saving a checkpoint; continue with --resume.[/yellow]"
            )
            if self.ranks.is_main:
                save_checkpoint(self._state(mid_epoch=True), self.last_path)
        except BaseException as exc:
            self.bus.close()  # trackers mark the run as failed instead of leaving it running
            if self.ranks.enabled and distributed.is_peer_failure(exc):
                raise distributed.lost(exc, self.ranks) from exc
            raise
        return self._finish()

    def _params(self, extra: dict[str, Any] | None) -> dict[str, Any]:
        cfg = self.config
        return {
            "preset": cfg.model.preset,
            "n_frames_per_step": cfg.model.n_frames_per_step,
            "batch_size": cfg.training.batch_size,
            "learning_rate": cfg.training.learning_rate,
            "planned_epochs": self.controller.plan.max_epochs,
            "plan": self.controller.plan.to_dict(),
            "device": str(self.device),
            "threads": self.threads,
            "amp": str(self.amp_dtype).removeprefix("torch.") if self.use_amp else False,
            "n_symbols": len(self.frontend.symbols),
            "language": self.frontend.language,
            "train_items": self.data.n_train,
            "val_items": self.data.n_val,
            "attention": cfg.model.attention,
            "phonemes": self.frontend.phonemes,
            **(extra or {}),
        }

    def run_epoch(self, progress: Progress) -> bool:
        """One epoch: train, validate, emit, observe, apply. True when the run ends here."""
        epoch_started = time.monotonic()
        train_metrics = distributed.reduce_metrics(
            self.train_epoch(progress),
            self.ranks,
            self.device,
            sums=("frames_per_second",),
            maxima=("train_seconds", "grad_norm_max", "nonfinite_steps"),
        )
        val_metrics, sample = self.validate()
        self.epoch += 1
        self.batch_in_epoch = 0
        record = EpochRecord.from_mapping(
            {
                "epoch": self.epoch,
                **train_metrics,
                **val_metrics,
                "epoch_seconds": time.monotonic() - epoch_started,
                "elapsed_seconds": self.elapsed(),
            }
        )
        self.last_record = record.to_dict()
        decisions: list[Decision] = []
        stop_request: tuple[str, str] | None = None
        if self.ranks.is_main:
            decisions = self.controller.observe(self.last_record, record.elapsed_seconds or 0.0)
            # The record goes on the stream before the checkpoint that holds its epoch: a
            # process killed between the two resumes from the previous checkpoint, whose
            # resume drops the record and trains the epoch again; the other order would lose
            # the record for good.
            try:
                self.bus.emit(EpochEnded(self.epoch, record.metrics()))
            except StopRun as request:
                stop_request = (request.reason, str(request.stop_reason))
            self.save(is_best=self.controller.best_epoch == self.epoch)
            if self.controller.last_good_epoch == self.epoch:
                shutil.copy2(self.last_path, self.good_path)
        decisions, stop_request = self._share_decisions(decisions, stop_request)
        if stop_request is not None:
            self.stop_reason = stop_request[1]
            self.console.print(f"[cyan]stopped by a listener[/cyan]: {stop_request[0]}")
            return True
        if sample:  # the first validation utterance, for the pictures
            scores = {
                k: record.metrics().get(k, math.nan) for k in ("attention_score", "diagonality")
            }
            self.bus.emit(ValidationSampled(self.epoch, **sample, **scores))
        return self._apply(decisions)

    def speak(self, out: Path) -> tuple[Path | None, float]:
        """A validation sentence spoken by the model as it is now (for AudioSamples). The
        random state is restored afterwards (the prenet's dropout stays on while speaking),
        so a sample never changes the training that follows it."""
        from smart_tuner.synthesize import LoadedModel, synthesize

        if not self.data.val_items:
            return None, 0.0
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        loaded = LoadedModel(self.model, self.frontend, self.config, self.epoch)
        with torch.random.fork_rng(devices=cuda):
            result = synthesize(loaded, self.data.val_items[0].text, out)
        return result.wav_path, result.seconds

    def _finish(self) -> dict[str, Any]:
        last = self.last_record or (read_records(self.run_dir / "metrics.jsonl") or [{}])[-1]
        best = self.controller.best_val_loss
        summary = {
            "epochs_run": self.epoch,
            "best_epoch": self.controller.best_epoch or 0,
            "best_val_loss": best,
            "attention_score": last.get("attention_score"),
            "diagonality": last.get("diagonality"),
            "gate_accuracy": last.get("gate_accuracy"),
            "final_val_loss": last.get("val_loss"),
            "stop_reason": str(self.stop_reason),
            "wall_seconds": round(self.prior_wall_seconds + self.elapsed(), 1),
            "steps": self.step,
            "device": str(self.device),
            "processes": self.ranks.world_size,
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.best_path if self.best_path.exists() else self.last_path),
            "skipped_items": [s.__dict__ for s in self.data.corpus.skipped],
            **self.quality,
            **self.controller.summary_fields(),
        }
        if self.ranks.is_main:
            atomic_write_text(
                self.run_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False)
            )
        self.bus.emit(RunFinished(summary))
        self.bus.close()
        best_text = "n/a" if best is None else f"{best:.4f}"
        self.console.print(
            f"Stopped ({self.stop_reason}) after {self.epoch} epochs, "
            f"{summary['wall_seconds'] / 60:.1f} min; best val_loss "
            f"{best_text} at epoch {summary['best_epoch']}. Run folder: {self.run_dir}"
        )
        return summary


def train(
    config: Config,
    dataset: Path,
    run_dir: Path,
    *,
    resume: bool = False,
    warm_start_path: Path | None = None,
    console: Console | None = None,
    track: bool = False,
    run_params: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    nested_name: str | None = None,
    listeners: Sequence[Listener] = (),
    ranks: Ranks | None = None,
) -> dict[str, Any]:
    """Train one run folder until the plan, the budget or the user stops it.

    `track` attaches the trackers (MLflow, TensorBoard, log file, history DB) to the run's
    event stream; `run_params` (e.g. the dataset profile) travel with the RunStarted event.
    `listeners` join the same stream (a search reports to Optuna through one); a listener that
    raises `StopRun` on `EpochEnded` ends the run after that epoch with its stop reason.
    """
    from smart_tuner.run_lock import RunLock

    ranks = ranks or Ranks()
    # One run per folder for the run's whole life (a second one stops with RunFolderLocked);
    # in a distributed run rank 0 holds it for all.
    lock = RunLock(run_dir, command="train", notify=(console or Console()).print)
    with lock if ranks.is_main else contextlib.nullcontext():
        trainer = Trainer(
            config,
            dataset,
            run_dir,
            resume=resume,
            warm_start_path=warm_start_path,
            console=console,
            ranks=ranks,
        )
        if not ranks.is_main:  # the others only train: nothing listens, nothing is written
            return trainer.run(run_params or {})
        for listener in listeners:
            trainer.bus.subscribe(listener)
        from smart_tuner.evaluate.monitor import attach_quality_monitor

        attach_quality_monitor(trainer.bus, trainer.config, trainer.data.val_items, run_dir)
        if track:
            from smart_tuner.track import attach_trackers

            attach_trackers(
                trainer.bus,
                trainer.run_dir,
                trainer.config,
                parent_run_id=parent_run_id,
                nested_name=nested_name,
            )
        return trainer.run(run_params or {})
