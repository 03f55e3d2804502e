"""The muscle of an epoch: optimizer steps and teacher-forced validation.

Functions of the `Trainer` they serve (its model, data, optimizer and controller): each step
asks the controller for its learning rate and loss weights; nothing here decides anything.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from rich.progress import Progress

from smart_tuner.model import Tacotron2
from smart_tuner.runtime.alignment_metrics import attention_score, diagonality, gate_accuracy
from smart_tuner.runtime.checkpoint import rng_state, set_rng_state
from smart_tuner.runtime.distributed import all_agree, reduce_metrics

VALIDATION_KEYS = (
    "val_loss",
    "val_mel_loss",
    "val_postnet_loss",
    "val_gate_loss",
    "attention_score",
    "diagonality",
    "gate_accuracy",
)

if TYPE_CHECKING:
    from smart_tuner.train.loop import Trainer


@torch.no_grad()
def calibrate_batchnorm(t: Trainer, model: Tacotron2, batches: int = 4) -> None:
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
    sampler = t.data.train_sampler
    for index in sampler.batches()[:batches]:
        batch = t.data.train_loader.collate_fn([t.data.train_loader.dataset[i] for i in index]).to(
            t.device
        )
        model(batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def autocast(t: Trainer) -> torch.autocast:
    """Mixed precision where it pays (see `amp_dtype`); a no-op context otherwise."""
    return torch.autocast(t.device.type, dtype=t.amp_dtype or torch.float32, enabled=t.use_amp)


def training_loss(
    t: Trainer, net: torch.nn.Module, batch: Any, ga_weight: float, entropy_weight: float
) -> torch.Tensor:
    """The teacher-forced forward pass of one batch and its total loss."""
    output = net(batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths)
    return t.criterion(
        output,
        batch.mel_padded,
        batch.gate_padded,
        batch.input_lengths,
        batch.output_lengths,
        ga_weight,
        entropy_weight,
    )["loss"]


def train_epoch(t: Trainer, progress: Progress) -> dict[str, float]:
    """This rank's losses and gradient norms over the epoch (the loop averages the ranks)."""
    model, net, cfg = t.model, t.net, t.config
    model.train()
    t.data.train_sampler.set_epoch(t.epoch)
    task = progress.add_task(f"epoch {t.epoch + 1}", total=len(t.data.train_loader))
    skip = t.batch_in_epoch  # > 0 only when resuming mid-epoch (kept until a new step ends)
    if not skip:
        # Ctrl-C before the first step ends resumes from here: the RNG before the DataLoader
        # draws its seed, and BatchNorm statistics before the first forward pass.
        t.epoch_start_rng = rng_state()
        t.epoch_start_buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
        t.epoch_losses, t.epoch_grad_norms, t.epoch_frames = [], [], 0
    losses, grad_norms = t.epoch_losses, t.epoch_grad_norms
    frames_before = t.epoch_frames
    started = time.monotonic()
    n_batches = len(t.data.train_loader)
    for index, batch in enumerate(t.data.train_loader):
        if index < skip:
            progress.update(task, advance=1)
            continue
        if index == skip and skip:  # creating the DataLoader iterator drew a random seed
            set_rng_state(t.resume_rng)
        # An interrupted step restarts from here exactly: RNG and BatchNorm statistics as
        # they were before its forward pass (a few KB, cheap to copy).
        t.batch_rng = rng_state()
        t.batch_buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
        batch = batch.to(t.device)
        lr = t.controller.learning_rate(t.epoch + index / n_batches)
        for group in t.optimizer.param_groups:
            group["lr"] = lr
        ga_weight = t.controller.guided_attention_weight(t.step)
        with autocast(t):
            loss = training_loss(t, net, batch, ga_weight, t.controller.attention_entropy_weight())
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.unscale_(t.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), cfg.training.grad_clip_thresh
        )
        if t.use_scaler:
            t.scaler.step(t.optimizer)  # skips the update itself on inf/NaN
            t.scaler.update()
        elif all_agree(torch.isfinite(grad_norm) & torch.isfinite(loss), t.ranks):
            t.optimizer.step()  # a non-finite step changes nothing (on any rank); counted below
        t.batch_in_epoch = index + 1
        t.step += 1
        losses.append(loss.detach())
        grad_norms.append(grad_norm.detach())
        t.epoch_frames += int(batch.output_lengths.sum())
        progress.update(task, advance=1)
    progress.remove_task(task)
    t.epoch_start_rng, t.epoch_start_buffers = None, {}  # a later Ctrl-C is not this epoch's
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
        "lr": t.optimizer.param_groups[0]["lr"],
        "guided_attention_weight": t.controller.guided_attention_weight(t.step),
        "attention_entropy_weight": t.controller.attention_entropy_weight(),
        "batch_size": float(t.data.train_sampler.batch_size),
        "frames_per_second": (t.epoch_frames - frames_before) / max(seconds, 1e-9),
        "train_seconds": seconds,
        "step": float(t.step),
    }


@torch.no_grad()
def validate(t: Trainer) -> tuple[dict[str, float], dict[str, Any]]:
    """Teacher-forced validation: losses and the alignment metrics, weighted by batch size.

    BatchNorm statistics are measured afresh first: the running averages lag a model that
    is still changing fast, which made eval-mode losses of short runs swing several-fold.
    """
    model, r = t.model, t.config.model.n_frames_per_step
    calibrate_batchnorm(t, model, max(1, min(4, len(t.data.train_loader) // 8)))
    model.eval()
    sums = dict.fromkeys(VALIDATION_KEYS, 0.0)  # the same keys on every rank, for the reduce
    count = 0
    sample: dict[str, Any] = {}
    for batch in t.data.val_loader:
        batch = batch.to(t.device)
        with autocast(t):
            output = model(
                batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths
            )
            parts = t.criterion(
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
            "attention_score": attention_score(output.alignments, batch.input_lengths, dec_lengths),
            "diagonality": diagonality(output.alignments, batch.input_lengths, dec_lengths),
            "gate_accuracy": gate_accuracy(
                output.gate_outputs, batch.gate_padded, batch.output_lengths
            ),
        }
        for key, value in values.items():
            sums[key] += value * n
        count += n
        if not sample:
            t_in, t_out = int(batch.input_lengths[0]), int(batch.output_lengths[0])
            sample = {
                "alignment": output.alignments[0, : dec_lengths[0], :t_in].float().cpu().numpy(),
                "target": batch.mel_padded[0, :, :t_out].float().cpu().numpy(),
                "predicted": output.mel_outputs_postnet[0, :, :t_out].float().cpu().numpy(),
            }
    # In a distributed run each rank validated every W-th batch: add the ranks' sums up.
    summed = [*sums, "items"]
    totals = reduce_metrics({**sums, "items": float(count)}, t.ranks, t.device, sums=summed)
    count = int(totals.pop("items"))
    return {k: v / max(count, 1) for k, v in totals.items()}, sample
