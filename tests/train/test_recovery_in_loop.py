"""The controller's decisions are carried out for real in the training loop (tiny real model)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from smart_tuner.events import read_records
from smart_tuner.model import Tacotron2Loss
from smart_tuner.train.loop import train
from tests.helpers import tiny_config


def decisions(run_dir) -> list[dict]:
    return read_records(run_dir / "metrics.jsonl", kind="decision")


def test_nan_losses_roll_back_and_lower_the_learning_rate(corpus, cache_dir, tmp_path, monkeypatch):
    original = Tacotron2Loss.forward
    state = {"training_calls": 0}

    def forward(self, output, *args, **kwargs):
        parts = original(self, output, *args, **kwargs)
        if output.mel_outputs.requires_grad:
            state["training_calls"] += 1
            if 7 <= state["training_calls"] <= 8:  # both batches of epoch 4 blow up
                parts["loss"] = parts["loss"] * torch.tensor(math.nan)
        return parts

    monkeypatch.setattr(Tacotron2Loss, "forward", forward)
    run = tmp_path / "run"
    summary = train(tiny_config(cache_dir, epochs=10), corpus, run)
    made = decisions(run)
    rollback = [d for d in made if d["action"] == "rollback"]
    assert rollback, [d["action"] for d in made]
    assert rollback[0]["epoch"] == 4 and rollback[0]["params"]["to_epoch"] == 3
    assert (run / "checkpoints" / "good.pt").exists()
    records = read_records(run / "metrics.jsonl")
    assert math.isnan(records[3]["train_loss"]) and records[3]["nonfinite_steps"] == 2
    assert math.isfinite(records[4]["train_loss"])  # training went on after the rollback
    assert rollback[0]["params"]["lr"] < rollback[0]["params"]["previous_lr"]
    assert summary["epochs_run"] >= 5
    assert any(d["action"] == "rollback" for d in summary["decisions"])


def test_exploding_gradients_halve_the_learning_rate(corpus, cache_dir, tmp_path, monkeypatch):
    original = torch.nn.utils.clip_grad_norm_
    state = {"calls": 0}

    def clip(parameters, max_norm, *args, **kwargs):
        norm = original(parameters, max_norm, *args, **kwargs)
        state["calls"] += 1
        return norm * 0 + 500.0 if state["calls"] > 8 else norm  # from epoch 5 on

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    # An explosion hurts the loss (high norms the loss shrugs off are no explosion): from
    # the same point on, every loss comes out 1.3x the one before.
    forward = Tacotron2Loss.forward

    def hurt(self, *args, **kwargs):
        parts = forward(self, *args, **kwargs)
        if state["calls"] > 8:
            state["hurt"] = state.get("hurt", 1.0) * 1.3
            parts["loss"] = parts["loss"] * state["hurt"]
        return parts

    monkeypatch.setattr(Tacotron2Loss, "forward", hurt)
    run = tmp_path / "run"
    train(tiny_config(cache_dir, epochs=12), corpus, run)
    reduce = [d for d in decisions(run) if d["action"] == "set_lr"]
    assert reduce, [d["action"] for d in decisions(run)]
    first = reduce[0]
    assert first["params"]["lr"] <= 0.5 * first["params"]["previous_lr"] + 1e-12
    records = {r["epoch"]: r for r in read_records(run / "metrics.jsonl")}
    assert first["epoch"] < max(records)  # the run went on after the cut ...
    after = records[first["epoch"] + 1]
    assert after["lr"] <= first["params"]["lr"] + 1e-12  # ... and trained at the lowered rate


def test_a_rollback_naming_a_kept_checkpoint_loads_that_one(
    corpus, cache_dir, tmp_path, monkeypatch
):
    """The controller's undo of a sharpening: keep the model at epoch 2, return to it at 4."""
    from smart_tuner.control import Action, TrainingController
    from smart_tuner.control.decision import Decision
    from smart_tuner.train import decisions

    observe = TrainingController.observe
    tag = "before_sharpening_e00002"

    def scripted(self, record, elapsed):
        made = observe(self, record, elapsed)
        if record["epoch"] == 2:
            made.append(Decision(Action.CHECKPOINT, "keep", {"tag": tag}))
        if record["epoch"] == 4:
            made.append(Decision(Action.ROLLBACK, "undo", {"to_epoch": 2, "checkpoint": tag}))
        return made

    loaded = []
    original_load = decisions.load_checkpoint

    def spy(path, *args, **kwargs):
        loaded.append(Path(path).name)
        return original_load(path, *args, **kwargs)

    monkeypatch.setattr(TrainingController, "observe", scripted)
    monkeypatch.setattr(decisions, "load_checkpoint", spy)
    run = tmp_path / "run"
    summary = train(tiny_config(cache_dir, epochs=5), corpus, run)
    assert (run / "checkpoints" / f"{tag}.pt").exists()
    assert f"{tag}.pt" in loaded and "good.pt" not in loaded
    assert summary["epochs_run"] == 5
