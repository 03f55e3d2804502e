"""What watching the model costs: controller + alignment metrics vs the epoch they watch.

    python benchmarks/monitoring_overhead.py [--dataset DIR] [--epochs 3]

Trains the `small` preset for a few epochs on the demo corpus (or --dataset) and, in the same
run, times what monitoring adds per epoch: the alignment metrics (attention_score,
diagonality, gate_accuracy) on every validation batch, the BatchNorm re-measurement before
validation, and `TrainingController.observe`. Prints seconds and the share of the epoch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.cli import demo_corpus_path  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402
from smart_tuner.train.alignment_metrics import (  # noqa: E402
    attention_score,
    diagonality,
    gate_accuracy,
)
from smart_tuner.train.loop import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=120)
    config = load_config(None, {"model.preset": "small", "training.epochs": 1000})
    trainer = Trainer(
        config,
        args.dataset or demo_corpus_path("en"),
        Path(tempfile.mkdtemp(prefix="monitoring-")),
        console=Console(quiet=True),
    )
    r = config.model.n_frames_per_step
    rows = []
    with Progress(disable=True) as progress:
        for _ in range(args.epochs):
            started = time.perf_counter()
            trainer.train_epoch(progress)
            t_train = time.perf_counter() - started
            started = time.perf_counter()
            trainer._calibrate_batchnorm(
                trainer.model, max(1, min(4, len(trainer.data.train_loader) // 8))
            )
            t_bn = time.perf_counter() - started
            started = time.perf_counter()
            metrics, _ = trainer.validate()
            t_val = time.perf_counter() - started - t_bn  # validate() re-measures BN too
            # The metrics alone, on the same validation batches:
            t_metrics = 0.0
            trainer.model.eval()
            with torch.no_grad():
                for batch in trainer.data.val_loader:
                    out = trainer.model(
                        batch.text_padded,
                        batch.input_lengths,
                        batch.mel_padded,
                        batch.output_lengths,
                    )
                    dec = torch.div(batch.output_lengths + r - 1, r, rounding_mode="floor")
                    t0 = time.perf_counter()
                    attention_score(out.alignments, batch.input_lengths, dec)
                    diagonality(out.alignments, batch.input_lengths, dec)
                    gate_accuracy(out.gate_outputs, batch.gate_padded, batch.output_lengths)
                    t_metrics += time.perf_counter() - t0
            trainer.epoch += 1
            trainer.batch_in_epoch = 0
            record = {"epoch": trainer.epoch, **metrics, "epoch_seconds": t_train + t_val}
            t0 = time.perf_counter()
            trainer.controller.observe(record, t_train + t_val)
            t_controller = time.perf_counter() - t0
            rows.append((t_train, t_val, t_bn, t_metrics, t_controller))
    table = Table(title="monitoring overhead per epoch (small preset, demo corpus, this machine)")
    for col in (
        "epoch",
        "train s",
        "validation s",
        "BN re-measure s",
        "metrics s",
        "controller s",
        "monitoring share",
    ):
        table.add_column(col, justify="right")
    for i, (tr, va, bn, me, co) in enumerate(rows, 1):
        total = tr + va + bn
        table.add_row(
            str(i),
            f"{tr:.2f}",
            f"{va:.2f}",
            f"{bn:.2f}",
            f"{me:.4f}",
            f"{co:.5f}",
            f"{100 * (bn + me + co) / total:.2f} %",
        )
    console.print(table)
    import numpy as np

    from smart_tuner.control import fit_learning_curve

    t = np.arange(1, 5000)
    y = 0.4 + np.exp(-t / 500.0)
    started = time.perf_counter()
    for _ in range(50):
        fit_learning_curve(t, y)
    fit_ms = 1000 * (time.perf_counter() - started) / 50
    console.print(f"learning-curve fit on a 5000-epoch history: {fit_ms:.1f} ms per analysis")


if __name__ == "__main__":
    main()
