"""What a checkpoint holds (model, optimizer, the controller's state, the interrupted epoch's
progress) and how a resumed run picks up from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from smart_tuner.runtime.checkpoint import atomic_write_text, rng_state, set_rng_state
from smart_tuner.train.data_prep import planned_epochs

if TYPE_CHECKING:
    from smart_tuner.train.loop import Trainer

CHECKPOINT_FORMAT = "smart_tuner/1"


def checkpoint_state(t: Trainer, mid_epoch: bool = False) -> dict[str, Any]:
    """Everything to resume. `mid_epoch`: Ctrl-C inside an epoch; the resumed run skips
    the batches already trained and replays the interrupted one with the same RNG."""
    model_state = t.model.state_dict()
    partial = mid_epoch and t.batch_in_epoch
    before_first_step = mid_epoch and not partial and t.epoch_start_rng is not None
    if partial:
        model_state.update({k: v for k, v in t.batch_buffers.items() if k in model_state})
    elif before_first_step:  # the epoch starts again exactly as it started the first time
        model_state.update({k: v for k, v in t.epoch_start_buffers.items() if k in model_state})
    best = t.controller.best_val_loss
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model_state,
        "optimizer": t.optimizer.state_dict(),
        "scaler": t.scaler.state_dict(),
        "epoch": t.epoch,
        "step": t.step,
        "best_val_loss": math.inf if best is None else best,
        "best_epoch": t.controller.best_epoch or 0,
        "wall_seconds": t.prior_wall_seconds + t.elapsed(),
        "config": t.config.model_dump(mode="json"),
        "frontend": t.frontend.to_dict(),
        "rng": t.batch_rng
        if partial
        else (t.epoch_start_rng if before_first_step else rng_state()),
        "batch_in_epoch": t.batch_in_epoch if mid_epoch else 0,
        "partial_epoch": {
            "losses": [float(x) for x in t.epoch_losses[: t.batch_in_epoch]],
            "grad_norms": [float(x) for x in t.epoch_grad_norms[: t.batch_in_epoch]],
            "frames": t.epoch_frames,
        }
        if partial
        else None,
        "controller": json.dumps(t.controller.state_dict()),
    }


def restore(t: Trainer, state: dict[str, Any]) -> None:
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    t.scaler.load_state_dict(state["scaler"])
    t.epoch = int(state["epoch"])
    t.step = int(state["step"])
    t.prior_wall_seconds = float(state["wall_seconds"])
    set_rng_state(state["rng"])
    t.controller.load_state_dict(json.loads(state["controller"]))
    shared = t.controller.shared_state
    if "ga_start_step" in state and not shared.guided_attention_start_step:
        shared.guided_attention_start_step = float(state["ga_start_step"])  # older runs
    wanted = planned_epochs(t.config)
    if wanted != t.controller.plan.max_epochs or t.config.training.max_minutes:
        # --epochs / --max-minutes given again on resume: this invocation's plan.
        t.controller.extend(wanted, t.config.training.max_minutes)
    t.batch_in_epoch = int(state.get("batch_in_epoch", 0))
    partial = state.get("partial_epoch") or {}
    t.epoch_losses = [torch.tensor(x) for x in partial.get("losses", [])]
    t.epoch_grad_norms = [torch.tensor(x) for x in partial.get("grad_norms", [])]
    t.epoch_frames = int(partial.get("frames", 0))
    t.resume_rng = state["rng"]
    # Ctrl-C again before the first new step: this same state is what to save.
    t.batch_rng, t.batch_buffers = state["rng"], {}
    t.console.print(f"Resuming {t.run_dir} after epoch {t.epoch} (step {t.step}).")


def trim_stream_after(path: Path, epoch: int) -> None:
    """On resume, forget epochs newer than the checkpoint (they will be trained again)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and _epoch_of(line) <= epoch
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _epoch_of(line: str) -> int:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return 1 << 30  # a torn line is dropped
    return int(record.get("epoch", 0) or 0)
