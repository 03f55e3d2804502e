"""Run by torchrun in test_distributed: rank 0's controller is made to decide a checkpoint
(epoch 1), a halved learning rate and a rollback to that checkpoint (epoch 2); every rank
writes what it then holds, for the test to compare."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from smart_tuner.config import load_config
from smart_tuner.control import Action, Decision
from smart_tuner.runtime import distributed
from smart_tuner.runtime.checkpoint import load_checkpoint
from smart_tuner.runtime.distributed import Ranks
from smart_tuner.train.loop import Trainer


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for name, p in model.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def main(config_path: str, corpus: str, out: str) -> None:
    ranks = Ranks.from_env()
    distributed.start(ranks, "cpu", 120)
    config = load_config(Path(config_path), {"training.epochs": 3})
    trainer = Trainer(config, Path(corpus), Path(out), console=Console(quiet=True), ranks=ranks)
    seen: dict[str, Any] = {"rank": ranks.rank}
    if ranks.is_main:
        decide = trainer.controller.observe

        def observe(record: dict[str, Any], elapsed: float) -> list[Decision]:
            decisions = decide(record, elapsed)
            if record["epoch"] == 1:
                decisions.append(Decision(Action.CHECKPOINT, "test", {"tag": "epoch1"}))
            if record["epoch"] == 2:
                trainer.controller.levers.lower_lr(2, 0.5, unstable=False)
                decisions.append(Decision(Action.SET_LR, "test: halve", {"factor": 0.5}))
                decisions.append(Decision(Action.ROLLBACK, "test", {"checkpoint": "epoch1"}))
            return decisions

        trainer.controller.observe = observe  # type: ignore[method-assign]
    rollback = trainer._rollback

    def rolled_back(decision: Decision) -> None:
        rollback(decision)
        seen["after_rollback"] = weights_hash(trainer.model)

    trainer._rollback = rolled_back  # type: ignore[method-assign]
    summary = trainer.run({})
    kept = copy.deepcopy(trainer.model)
    kept.load_state_dict(load_checkpoint(Path(out, "checkpoints", "epoch1.pt"))["model"])
    seen.update(
        epoch1=weights_hash(kept),
        final=weights_hash(trainer.model),
        lr_factor=trainer.controller.shared_state.lr_factor,
        lr=trainer.optimizer.param_groups[0]["lr"],
        epochs=summary["epochs_run"],
    )
    Path(out, f"rank{ranks.rank}.json").write_text(json.dumps(seen))
    distributed.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
