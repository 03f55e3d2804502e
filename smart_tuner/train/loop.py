"""The training loop: runs epochs, asks the controller what to do, saves crash-safe checkpoints.

Read it top to bottom: `train()` prepares data and model, then each epoch = train steps ->
validation -> one record on the event stream -> controller decisions. The loop never decides on
its own when to stop; the controller does.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from smart_tuner.config import Config, GuidedAttentionConfig, ModelConfig, dump_config
from smart_tuner.control import Action, Decision, TrainingController, TrainingPlan
from smart_tuner.data import (
    BucketBatchSampler,
    Collate,
    Corpus,
    MelCache,
    TextFrontend,
    TTSDataset,
    load_corpus,
    split_train_val,
)
from smart_tuner.data.phonemes import PhonemizerUnavailable, resolve_phonemes
from smart_tuner.events import (
    ArtifactSaved,
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    EventBus,
    JsonlWriter,
    Listener,
    RunFinished,
    RunStarted,
    StopRun,
    read_records,
)
from smart_tuner.model import Tacotron2, Tacotron2Loss, guided_attention_weight
from smart_tuner.model.warm_start import load_checkpoint_state, warm_start
from smart_tuner.plots import plot_alignment, plot_mels
from smart_tuner.train.alignment_metrics import attention_score, diagonality, gate_accuracy
from smart_tuner.train.checkpoint import (
    atomic_write_text,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from smart_tuner.train.device import amp_dtype, configure_threads, select_device

CHECKPOINT_FORMAT = "smart_tuner/1"


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


@dataclass
class PreparedData:
    corpus: Corpus
    frontend: TextFrontend
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    train_sampler: BucketBatchSampler
    n_train: int
    n_val: int
    cache: MelCache
    train_items: list
    val_items: list

    def mel_statistics(self, limit: int = 200) -> tuple[torch.Tensor, float]:
        """Per-channel mean log-mel and mean length (frames) over up to `limit` train items."""
        mels = [torch.from_numpy(self.cache.get(u)) for u in self.train_items[:limit]]
        mean = torch.cat(mels, dim=1).mean(dim=1)
        return mean, sum(m.shape[1] for m in mels) / len(mels)


def build_frontend(corpus: Corpus, config: Config, console: Console | None = None) -> TextFrontend:
    """Learn the symbol set from the corpus with the configured language rules."""
    try:
        phonemes, note = resolve_phonemes(config.data.phonemes)
    except PhonemizerUnavailable as exc:
        raise TrainingError(f"data.phonemes is 'on' but {exc}") from exc
    if note and console is not None:
        console.print(f"[yellow]{note}[/yellow]")
    return TextFrontend.from_texts(
        [u.text for u in corpus.entries],
        config.data.language,
        config.data.fold_yo,
        config.data.expand_numbers,
        phonemes=phonemes,
    )


def prepare_data(
    dataset: Path,
    config: Config,
    console: Console,
    frontend: TextFrontend | None = None,
) -> PreparedData:
    corpus = load_corpus(dataset, config.data)
    cache = MelCache(config.audio, config.data.cache_dir)
    frames = cache.precompute(corpus.entries, progress=console.is_terminal, skip_errors=True)
    if cache.failed:  # the header looked fine but the audio does not decode
        corpus.entries = [u for u in corpus.entries if u.id in frames]
        corpus.skipped.extend(cache.failed)
    console.print(corpus.report())
    if len(corpus.entries) < 2:
        raise TrainingError(f"{dataset}: fewer than 2 usable utterances, nothing to train on")
    if frontend is None:
        frontend = build_frontend(corpus, config, console)
    train_items, val_items = split_train_val(
        corpus.entries,
        config.data.validation_fraction,
        config.data.min_validation_items,
        config.data.split_seed,
    )
    r = config.model.n_frames_per_step

    def loader(items: list, shuffle: bool, seed: int) -> tuple[Any, BucketBatchSampler]:
        ids = [frontend(u.text) for u in items]
        lengths = [frames[u.id] for u in items]
        sampler = BucketBatchSampler(
            lengths, config.training.batch_size, shuffle=shuffle, seed=seed, drop_last=False
        )
        dl = torch.utils.data.DataLoader(
            TTSDataset(items, ids, cache),
            batch_sampler=sampler,
            collate_fn=Collate(r),
            num_workers=config.data.num_workers,
            persistent_workers=config.data.num_workers > 0,
        )
        return dl, sampler

    train_loader, train_sampler = loader(train_items, True, config.training.seed)
    val_loader, _ = loader(val_items, False, config.training.seed)
    return PreparedData(
        corpus,
        frontend,
        train_loader,
        val_loader,
        train_sampler,
        len(train_items),
        len(val_items),
        cache,
        train_items,
        val_items,
    )


def planned_epochs(config: Config) -> int:
    if config.training.epochs is not None:
        return config.training.epochs
    return config.hyperparameter_search_space.epochs.default


class Trainer:
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
    ) -> None:
        self.console = console or Console()
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.plot_dir = self.run_dir / "plots"
        self.last_path = self.ckpt_dir / "last.pt"
        self.best_path = self.ckpt_dir / "best.pt"
        self.good_path = self.ckpt_dir / "good.pt"  # last finite epoch, for ROLLBACK

        resume_state = None
        if resume:
            if not self.last_path.exists():
                raise TrainingError(f"--resume: no checkpoint at {self.last_path}")
            resume_state = load_checkpoint(self.last_path)
            # The architecture is fixed by the checkpoint; training settings may change.
            update: dict[str, Any] = {
                "model": ModelConfig.model_validate(resume_state["config"]["model"])
            }
            if config.training.epochs is None:  # keep the plan the run was started with
                epochs = resume_state["config"]["training"].get("epochs")
                update["training"] = config.training.model_copy(update={"epochs": epochs})
            config = config.model_copy(update=update)
        elif self.last_path.exists():
            raise TrainingError(
                f"{self.run_dir} already holds a run; pass --resume to continue it "
                "or choose another --out folder"
            )
        self.config = config

        torch.manual_seed(config.training.seed)
        self.threads = configure_threads(config.training.num_threads)
        self.device = select_device(config.training.device)
        self.amp_dtype = amp_dtype(self.device, config.training.amp)
        self.use_amp = self.amp_dtype is not None
        self.use_scaler = self.amp_dtype == torch.float16  # bf16 has float32's range

        frontend = TextFrontend.from_dict(resume_state["frontend"]) if resume_state else None
        self.data = prepare_data(dataset, config, self.console, frontend)
        self.frontend = self.data.frontend

        self.epoch = 0
        self.step = 0
        self.controller = TrainingController(
            config, TrainingPlan.from_config(config, planned_epochs(config))
        )
        self.warm_start_path = None if resume_state else warm_start_path
        self.model = self._new_model(fresh=resume_state is None)
        self.criterion = Tacotron2Loss(
            sigma=config.training.guided_attention.sigma,
            gate_positive_weight=config.training.gate_positive_weight,
            attention_entropy_weight=config.training.attention_entropy_weight,
            mel_l1_weight=config.training.mel_l1_weight,
        )
        self.optimizer = self._new_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
        # Guided attention: its weight decays per step from `ga_start_step`; a restart may
        # ask for stronger guidance and restarts the decay.
        self.ga_config = config.training.guided_attention
        self.ga_start_step = 0
        self.batch_in_epoch = 0
        # The interrupted epoch's per-batch losses, gradient norms and frames so far: a resumed
        # epoch reports the whole epoch, even when every batch was trained before Ctrl-C.
        self.epoch_losses: list[torch.Tensor] = []
        self.epoch_grad_norms: list[torch.Tensor] = []
        self.epoch_frames = 0
        self.batch_rng: dict[str, Any] = {}
        self.batch_buffers: dict[str, torch.Tensor] = {}

        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.prior_wall_seconds = 0.0
        self.stop_reason = "not_started"
        self.last_record: dict[str, Any] = {}

        if resume_state is not None:
            self._restore(resume_state)

        self.bus = EventBus()
        self._trim_stream_after(self.epoch)
        self.bus.subscribe(JsonlWriter(self.run_dir / "metrics.jsonl"))

    # ------------------------------------------------------------------ state

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
            atomic_write_text(self.run_dir / "warm_start.txt", report.summary() + "\n")
        else:
            mean, frames = self.data.mel_statistics()
            model.init_output_bias(mean, frames)
        model.to(self.device)
        self._calibrate_batchnorm(model)
        return model

    @torch.no_grad()
    def _calibrate_batchnorm(self, model: Tacotron2, batches: int = 4) -> None:
        """Set BatchNorm's running statistics to the current model's on a few train batches.

        Running averages (momentum 0.1) start at mean 0 / variance 1 and lag ~10 steps behind
        a fast-changing model; eval-mode passes (validation, synthesis) then see the wrong
        scale. Measured: validation loss 14-17 with lagging statistics vs 5-6 with these.
        """
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        model.train()
        sampler = self.data.train_sampler
        for index in sampler.batches()[:batches]:
            batch = self.data.train_loader.collate_fn(
                [self.data.train_loader.dataset[i] for i in index]
            ).to(self.device)
            model(batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.model.parameters(),
            lr=self.controller.learning_rate(float(self.epoch)),
            weight_decay=self.config.training.weight_decay,
        )

    def ga_weight(self) -> float:
        return guided_attention_weight(self.step - self.ga_start_step, self.ga_config)

    def entropy_weight(self) -> float:
        return self.controller.attention_entropy_weight()

    def _state(self, mid_epoch: bool = False) -> dict[str, Any]:
        """Everything to resume. `mid_epoch`: Ctrl-C inside an epoch; the resumed run skips
        the batches already trained and replays the interrupted one with the same RNG."""
        model_state = self.model.state_dict()
        if mid_epoch and self.batch_in_epoch:
            model_state.update({k: v for k, v in self.batch_buffers.items() if k in model_state})
        return {
            "format": CHECKPOINT_FORMAT,
            "model": model_state,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "wall_seconds": self.prior_wall_seconds + self._elapsed(),
            "config": self.config.model_dump(mode="json"),
            "frontend": self.frontend.to_dict(),
            "rng": self.batch_rng if mid_epoch and self.batch_in_epoch else rng_state(),
            "batch_in_epoch": self.batch_in_epoch if mid_epoch else 0,
            "partial_epoch": {
                "losses": [float(x) for x in self.epoch_losses[: self.batch_in_epoch]],
                "grad_norms": [float(x) for x in self.epoch_grad_norms[: self.batch_in_epoch]],
                "frames": self.epoch_frames,
            }
            if mid_epoch and self.batch_in_epoch
            else None,
            "controller": json.dumps(self.controller.state_dict()),
            "guided_attention": self.ga_config.model_dump(),
            "ga_start_step": self.ga_start_step,
            "batch_size": self.data.train_sampler.batch_size,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.best_val_loss = float(state["best_val_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.prior_wall_seconds = float(state["wall_seconds"])
        set_rng_state(state["rng"])
        self.controller.load_state_dict(json.loads(state["controller"]))
        wanted = planned_epochs(self.config)
        if wanted != self.controller.plan.max_epochs or self.config.training.max_minutes:
            # --epochs / --max-minutes given again on resume: this invocation's plan.
            self.controller.extend(wanted, self.config.training.max_minutes)
        self.ga_config = GuidedAttentionConfig.model_validate(state["guided_attention"])
        self.ga_start_step = int(state["ga_start_step"])
        self.data.train_sampler.batch_size = int(state["batch_size"])
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        partial = state.get("partial_epoch") or {}
        self.epoch_losses = [torch.tensor(x) for x in partial.get("losses", [])]
        self.epoch_grad_norms = [torch.tensor(x) for x in partial.get("grad_norms", [])]
        self.epoch_frames = int(partial.get("frames", 0))
        self.resume_rng = state["rng"]
        self.console.print(f"Resuming {self.run_dir} after epoch {self.epoch} (step {self.step}).")

    def _trim_stream_after(self, epoch: int) -> None:
        """On resume, forget epochs newer than the checkpoint (they will be trained again)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and _epoch_of(line) <= epoch
        ]
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def _elapsed(self) -> float:
        return time.monotonic() - self._started if hasattr(self, "_started") else 0.0

    def save(self, is_best: bool) -> None:
        state = self._state()
        save_checkpoint(state, self.last_path)
        self.bus.emit(CheckpointSaved(self.epoch, str(self.last_path), False))
        if is_best:
            save_checkpoint(state, self.best_path)
            self.bus.emit(CheckpointSaved(self.epoch, str(self.best_path), True))

    # ------------------------------------------------------------------ epochs

    def autocast(self) -> torch.autocast:
        """Mixed precision where it pays (see `amp_dtype`); a no-op context otherwise."""
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.use_amp
        )

    def train_epoch(self, progress: Progress) -> dict[str, float]:
        model, cfg = self.model, self.config
        model.train()
        self.data.train_sampler.set_epoch(self.epoch)
        task = progress.add_task(f"epoch {self.epoch + 1}", total=len(self.data.train_loader))
        skip, self.batch_in_epoch = self.batch_in_epoch, 0  # > 0 only when resuming mid-epoch
        if not skip:
            self.epoch_losses, self.epoch_grad_norms, self.epoch_frames = [], [], 0
        losses, grad_norms = self.epoch_losses, self.epoch_grad_norms
        frames_before = self.epoch_frames
        started = time.monotonic()
        n_batches = len(self.data.train_loader)
        for index, batch in enumerate(self.data.train_loader):
            if index < skip:
                progress.update(task, advance=1)
                continue
            if index == skip and skip:  # creating the DataLoader iterator drew a random seed
                set_rng_state(self.resume_rng)
            # An interrupted step restarts from here exactly: RNG and BatchNorm statistics as
            # they were before its forward pass (a few KB, cheap to copy).
            self.batch_rng = rng_state()
            self.batch_buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
            batch = batch.to(self.device)
            lr = self.controller.learning_rate(self.epoch + index / n_batches)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            ga_weight = self.ga_weight()
            with self.autocast():
                output = model(
                    batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths
                )
                loss = self.criterion(
                    output,
                    batch.mel_padded,
                    batch.gate_padded,
                    batch.input_lengths,
                    batch.output_lengths,
                    ga_weight,
                    self.entropy_weight(),
                )["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.training.grad_clip_thresh
            )
            if self.use_scaler:
                self.scaler.step(self.optimizer)  # skips the update itself on inf/NaN
                self.scaler.update()
            elif torch.isfinite(grad_norm) and torch.isfinite(loss):
                self.optimizer.step()  # a non-finite step changes nothing; counted below
            self.batch_in_epoch = index + 1
            self.step += 1
            losses.append(loss.detach())
            grad_norms.append(grad_norm.detach())
            self.epoch_frames += int(batch.output_lengths.sum())
            progress.update(task, advance=1)
        progress.remove_task(task)
        seconds = time.monotonic() - started
        nothing = [torch.tensor(math.nan)]  # an empty loader (never with a usable corpus)
        loss_t = torch.stack([x.float().cpu() for x in losses] or nothing)
        norms = torch.stack([x.float().cpu() for x in grad_norms] or nothing)
        finite = torch.isfinite(loss_t)
        return {
            "train_loss": float(loss_t[finite].mean()) if finite.any() else math.nan,
            "grad_norm": float(norms[torch.isfinite(norms)].mean())
            if torch.isfinite(norms).any()
            else math.nan,
            "grad_norm_max": float(norms.max()),
            "nonfinite_steps": float((~(finite & torch.isfinite(norms))).sum()),
            "lr": self.optimizer.param_groups[0]["lr"],
            "guided_attention_weight": self.ga_weight(),
            "attention_entropy_weight": self.entropy_weight(),
            "batch_size": float(self.data.train_sampler.batch_size),
            "frames_per_second": (self.epoch_frames - frames_before) / max(seconds, 1e-9),
            "train_seconds": seconds,
            "step": float(self.step),
        }

    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], dict[str, Any]]:
        """Teacher-forced validation: losses and the alignment metrics, weighted by batch size.

        BatchNorm statistics are measured afresh first: the running averages lag a model that
        is still changing fast, which made eval-mode losses of short runs swing several-fold.
        """
        model, r = self.model, self.config.model.n_frames_per_step
        self._calibrate_batchnorm(model, max(1, min(4, len(self.data.train_loader) // 8)))
        model.eval()
        sums: dict[str, float] = {}
        count = 0
        sample: dict[str, Any] = {}
        for batch in self.data.val_loader:
            batch = batch.to(self.device)
            with self.autocast():
                output = model(
                    batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths
                )
                parts = self.criterion(
                    output,
                    batch.mel_padded,
                    batch.gate_padded,
                    batch.input_lengths,
                    batch.output_lengths,
                    0.0,
                    0.0,
                )
            n = batch.text_padded.shape[0]
            dec_lengths = torch.div(batch.output_lengths + r - 1, r, rounding_mode="floor")
            values = {
                "val_loss": float(parts["loss"]),
                "val_mel_loss": float(parts["mel_loss"]),
                "val_postnet_loss": float(parts["postnet_loss"]),
                "val_gate_loss": float(parts["gate_loss"]),
                "attention_score": attention_score(
                    output.alignments, batch.input_lengths, dec_lengths
                ),
                "diagonality": diagonality(output.alignments, batch.input_lengths, dec_lengths),
                "gate_accuracy": gate_accuracy(
                    output.gate_outputs, batch.gate_padded, batch.output_lengths
                ),
            }
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value * n
            count += n
            if not sample:
                t_in, t_out = int(batch.input_lengths[0]), int(batch.output_lengths[0])
                sample = {
                    "alignment": output.alignments[0, : dec_lengths[0], :t_in].float().cpu(),
                    "target": batch.mel_padded[0, :, :t_out].float().cpu(),
                    "predicted": output.mel_outputs_postnet[0, :, :t_out].float().cpu(),
                }
        return {k: v / max(count, 1) for k, v in sums.items()}, sample

    def _save_pictures(self, sample: dict[str, Any], record: dict[str, Any]) -> None:
        if not sample:
            return
        title = (
            f"epoch {self.epoch}  attention_score {record['attention_score']:.2f}  "
            f"diagonality {record['diagonality']:.2f}"
        )
        align = plot_alignment(
            sample["alignment"].numpy(), self.plot_dir / "alignment_latest.png", title
        )
        mel = plot_mels(
            {"target": sample["target"].numpy(), "predicted": sample["predicted"].numpy()},
            self.plot_dir / "mel_latest.png",
            title,
        )
        if self.epoch % 10 == 0 or self.epoch == 1:
            plot_alignment(
                sample["alignment"].numpy(),
                self.plot_dir / f"alignment_e{self.epoch:05d}.png",
                title,
            )
        self.bus.emit(ArtifactSaved(self.epoch, str(align), "alignment"))
        self.bus.emit(ArtifactSaved(self.epoch, str(mel), "mel"))

    # ------------------------------------------------------------------ the run

    def run(self, run_params: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg, controller = self.config, self.controller
        self._started = time.monotonic()
        self._last_audio_at = 0.0
        atomic_write_text(self.run_dir / "config.yaml", dump_config(cfg))
        self.bus.emit(
            RunStarted(
                str(self.run_dir),
                {
                    "preset": cfg.model.preset,
                    "n_frames_per_step": cfg.model.n_frames_per_step,
                    "batch_size": cfg.training.batch_size,
                    "learning_rate": cfg.training.learning_rate,
                    "planned_epochs": controller.plan.max_epochs,
                    "plan": controller.plan.to_dict(),
                    "device": str(self.device),
                    "threads": self.threads,
                    "amp": str(self.amp_dtype).removeprefix("torch.") if self.use_amp else False,
                    "n_symbols": len(self.frontend.symbols),
                    "language": self.frontend.language,
                    "train_items": self.data.n_train,
                    "val_items": self.data.n_val,
                    "attention": cfg.model.attention,
                    **(run_params or {}),
                },
                resumed_from_epoch=self.epoch,
            )
        )
        amp = f", AMP {str(self.amp_dtype).removeprefix('torch.')}" if self.use_amp else ""
        threads = f"{self.threads} thread{'s' * (self.threads != 1)}"
        self.console.print(
            f"Training on {self.device} ({threads}{amp}): {self.data.n_train} train / "
            f"{self.data.n_val} validation utterances, {len(self.frontend.symbols)} "
            f"{'phoneme' if self.frontend.phonemes else 'letter'} symbols "
            f"({self.frontend.language}), preset {cfg.model.preset}, "
            f"r={cfg.model.n_frames_per_step}, batch {cfg.training.batch_size}."
        )
        self.stop_reason = "epochs_completed"
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
                while True:
                    if self.epoch >= controller.plan.max_epochs:
                        self.stop_reason = "epochs_completed"
                        break
                    epoch_started = time.monotonic()
                    train_metrics = self.train_epoch(progress)
                    val_metrics, sample = self.validate()
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    record = {
                        **train_metrics,
                        **val_metrics,
                        "epoch_seconds": time.monotonic() - epoch_started,
                        "elapsed_seconds": self._elapsed(),
                    }
                    self.last_record = {"epoch": self.epoch, **record}
                    decisions = controller.observe(self.last_record, record["elapsed_seconds"])
                    is_best = math.isfinite(record["val_loss"]) and (
                        record["val_loss"] < self.best_val_loss
                    )
                    if is_best:
                        self.best_val_loss = record["val_loss"]
                        self.best_epoch = self.epoch
                    self.save(is_best)
                    if controller.last_good_epoch == self.epoch:
                        shutil.copy2(self.last_path, self.good_path)
                    try:
                        self.bus.emit(EpochEnded(self.epoch, record))
                    except StopRun as request:
                        self._print_epoch(record, is_best)
                        self.stop_reason = request.stop_reason
                        self.console.print(f"[cyan]stopped by a listener[/cyan]: {request.reason}")
                        break
                    self._save_pictures(sample, record)
                    self._print_epoch(record, is_best)
                    self._maybe_audio_sample()
                    if self._apply(decisions):
                        break
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            self.console.print(
                "[yellow]Interrupted: saving a checkpoint; continue with --resume.[/yellow]"
            )
            save_checkpoint(self._state(mid_epoch=True), self.last_path)
        except BaseException:
            self.bus.close()  # trackers mark the run as failed instead of leaving it running
            raise
        return self._finish()

    def _apply(self, decisions: list[Decision]) -> bool:
        """Carry out the controller's decisions, in order; True when the run should stop."""
        stop = False
        for decision in decisions:
            action, params = decision.action, decision.params
            if action is Action.CONTINUE:
                continue
            self.bus.emit(DecisionMade(self.epoch, str(action), decision.reason, params))
            if action is Action.REPORT:
                self.console.print(params.get("text", decision.reason), highlight=False)
                continue
            self.console.print(f"[cyan]decision[/cyan] {action}: {decision.reason}")
            if action is Action.STOP:
                self.stop_reason = decision.stop_reason or "stopped"
                stop = True
            elif action is Action.CHECKPOINT:
                shutil.copy2(self.last_path, self.ckpt_dir / f"{params.get('tag', 'saved')}.pt")
            elif action is Action.RESET_ATTENTION:
                self.model.reset_attention()
            elif action is Action.RESET_OPTIMIZER:
                self.optimizer = self._new_optimizer()
                self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
            elif action is Action.ROLLBACK:
                kept = params.get("checkpoint")
                path = self.ckpt_dir / f"{kept}.pt" if kept else self.good_path
                good = load_checkpoint(path if path.exists() else self.good_path)
                self.model.load_state_dict(good["model"])
                self.optimizer.load_state_dict(good["optimizer"])
                self.scaler.load_state_dict(good["scaler"])
            elif action is Action.SET_BATCH_SIZE:
                self.data.train_sampler.batch_size = int(params["batch_size"])
            elif action is Action.RESTART:
                self.model = self._new_model()
                self.optimizer = self._new_optimizer()
                self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
                weight = params.get("guided_attention_weight", self.ga_config.weight)
                self.ga_config = self.ga_config.model_copy(update={"weight": float(weight)})
                self.ga_start_step = self.step
                if params.get("batch_size"):
                    self.data.train_sampler.batch_size = int(params["batch_size"])
            # SET_LR, LR_RESTART, PHASE, REPLAN: the schedule lives in the controller.
        return stop

    def _maybe_audio_sample(self) -> None:
        """Every `training.audio_sample_minutes` of this process's training: progress you can
        hear in TensorBoard and MLflow, not only the final sample."""
        every = self.config.training.audio_sample_minutes * 60.0
        if every <= 0:
            return
        elapsed = self._elapsed()
        if elapsed - self._last_audio_at >= every:
            self._last_audio_at = elapsed
            self._audio_sample()

    def _audio_sample(self) -> None:
        """A validation sentence spoken by the model as it is now, for the trackers' audio
        tabs. The random state is restored afterwards (the prenet's dropout stays on while
        speaking), so a sample never changes the training that follows it."""
        from smart_tuner.synthesize import LoadedModel, synthesize

        if not self.data.val_items or self.epoch == 0:
            return
        text = self.data.val_items[0].text
        out = self.run_dir / "samples" / f"validation_e{self.epoch:05d}.wav"
        if out.exists():  # already spoken at this epoch (a periodic sample, then the end)
            return
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            loaded = LoadedModel(self.model, self.frontend, self.config, self.epoch)
            with torch.random.fork_rng(devices=cuda):
                result = synthesize(loaded, text, out)
        except Exception as exc:  # a sample is a nicety; never fail a finished run for it
            self.console.print(f"[yellow]No audio sample: {exc}[/yellow]")
            return
        if result.wav_path is None:
            self.console.print("Audio sample: the model does not stop yet, none written.")
            return
        self.console.print(f"Audio sample ({result.seconds:.1f} s): {result.wav_path}")
        self.bus.emit(ArtifactSaved(self.epoch, str(result.wav_path), "audio"))

    def _print_epoch(self, r: dict[str, Any], is_best: bool) -> None:
        self.console.print(
            f"epoch {self.epoch:4d}  train {r['train_loss']:.4f}  val {r['val_loss']:.4f}  "
            f"attention_score {r['attention_score']:.3f}  diagonality {r['diagonality']:.3f}  "
            f"gate_accuracy {r['gate_accuracy']:.3f}  lr {r['lr']:.2e}  "
            f"{r['epoch_seconds']:.1f}s{'  *best' if is_best else ''}",
            highlight=False,
        )

    def _finish(self) -> dict[str, Any]:
        last = self.last_record or (read_records(self.run_dir / "metrics.jsonl") or [{}])[-1]
        summary = {
            "epochs_run": self.epoch,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "attention_score": last.get("attention_score"),
            "diagonality": last.get("diagonality"),
            "gate_accuracy": last.get("gate_accuracy"),
            "final_val_loss": last.get("val_loss"),
            "stop_reason": self.stop_reason,
            "wall_seconds": round(self.prior_wall_seconds + self._elapsed(), 1),
            "steps": self.step,
            "device": str(self.device),
            "checkpoint": str(self.best_path if self.best_path.exists() else self.last_path),
            "skipped_items": [s.__dict__ for s in self.data.corpus.skipped],
            **self.controller.summary_fields(),
        }
        atomic_write_text(
            self.run_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False)
        )
        if self.stop_reason != "interrupted":
            self._audio_sample()
        self.bus.emit(RunFinished(summary))
        self.bus.close()
        self.console.print(
            f"Stopped ({self.stop_reason}) after {self.epoch} epochs, "
            f"{summary['wall_seconds'] / 60:.1f} min; best val_loss "
            f"{self.best_val_loss:.4f} at epoch {self.best_epoch}. Run folder: {self.run_dir}"
        )
        return summary


def _epoch_of(line: str) -> int:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return 1 << 30  # a torn line is dropped
    return int(record.get("epoch", 0) or 0)


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
) -> dict[str, Any]:
    """Train one run folder until the plan, the budget or the user stops it.

    `track` attaches the trackers (MLflow, TensorBoard, log file, history DB) to the run's
    event stream; `run_params` (e.g. the dataset profile) travel with the RunStarted event.
    `listeners` join the same stream (a search reports to Optuna through one); a listener that
    raises `StopRun` on `EpochEnded` ends the run after that epoch with its stop reason.
    """
    from smart_tuner.run_lock import RunLock

    # One run per folder for the run's whole life (a second one stops with RunFolderLocked).
    with RunLock(run_dir, command="train", notify=(console or Console()).print):
        trainer = Trainer(
            config,
            dataset,
            run_dir,
            resume=resume,
            warm_start_path=warm_start_path,
            console=console,
        )
        for listener in listeners:
            trainer.bus.subscribe(listener)
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
